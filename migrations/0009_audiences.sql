CREATE TABLE `contact_imports` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`status` text NOT NULL,
	`format` text NOT NULL,
	`source` text NOT NULL,
	`source_url_ciphertext` text,
	`source_host` text,
	`list_id` text,
	`tags` text NOT NULL,
	`default_country` text,
	`object_key` text,
	`size_bytes` integer,
	`columns` text,
	`checkpoint_offset` integer DEFAULT 0 NOT NULL,
	`checkpoint_row` integer DEFAULT 0 NOT NULL,
	`counts` text NOT NULL,
	`errors` text NOT NULL,
	`failure_reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE INDEX `contact_imports_tenant_env_id` ON `contact_imports` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE TABLE `list_members` (
	`list_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`added_at` integer NOT NULL,
	PRIMARY KEY(`list_id`, `contact_id`)
);
--> statement-breakpoint
CREATE INDEX `list_members_contact` ON `list_members` (`contact_id`);--> statement-breakpoint
CREATE TABLE `lists` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `lists_tenant_env_id` ON `lists` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE TABLE `media` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`status` text NOT NULL,
	`content_type` text,
	`size_bytes` integer,
	`sha256` text,
	`filename` text,
	`object_key` text,
	`source_url_ciphertext` text,
	`failure_reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `media_tenant_env_id` ON `media` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `media_sha256` ON `media` (`tenant_id`,`environment`,`sha256`) WHERE "media"."deleted_at" IS NULL;--> statement-breakpoint
CREATE TABLE `segments` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`filter` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `segments_tenant_env_id` ON `segments` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE TABLE `suppressions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`channel` text NOT NULL,
	`address` text NOT NULL,
	`reason` text NOT NULL,
	`source_id` text,
	`note` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `suppressions_address` ON `suppressions` (`tenant_id`,`environment`,`channel`,`address`);--> statement-breakpoint
CREATE INDEX `suppressions_tenant_env_id` ON `suppressions` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
ALTER TABLE `contact_addresses` ADD `country` text;--> statement-breakpoint
ALTER TABLE `contact_addresses` ADD `line_type` text;