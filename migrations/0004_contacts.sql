CREATE TABLE `contact_addresses` (
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`channel` text NOT NULL,
	`address` text NOT NULL,
	`contact_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `environment`, `channel`, `address`)
);
--> statement-breakpoint
CREATE INDEX `contact_addresses_contact` ON `contact_addresses` (`contact_id`);--> statement-breakpoint
CREATE TABLE `contacts` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`external_id` text,
	`name` text,
	`tags` text NOT NULL,
	`attributes` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `contacts_tenant_env_id` ON `contacts` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `contacts_external_id` ON `contacts` (`tenant_id`,`environment`,`external_id`);