CREATE TABLE `api_key_secrets` (
	`secret_hash` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`prefix` text NOT NULL,
	`expires_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`key_id`) REFERENCES `api_keys`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `api_key_secrets_key_id` ON `api_key_secrets` (`key_id`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`name` text NOT NULL,
	`scopes` text NOT NULL,
	`prefix` text NOT NULL,
	`rate_limit_per_minute` integer,
	`rate_limit_burst` integer,
	`expires_at` integer,
	`revoked_at` integer,
	`rotated_at` integer,
	`created_by_key_id` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `api_keys_tenant_env_id` ON `api_keys` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE TABLE `audit_logs` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`key_id` text NOT NULL,
	`key_prefix` text NOT NULL,
	`method` text NOT NULL,
	`route` text NOT NULL,
	`status` integer NOT NULL,
	`request_id` text NOT NULL,
	`idempotency_key` text,
	`ip` text,
	`user_agent` text,
	`latency_ms` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_logs_tenant_env_id` ON `audit_logs` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE INDEX `audit_logs_tenant_env_key_id` ON `audit_logs` (`tenant_id`,`environment`,`key_id`,`id`);--> statement-breakpoint
CREATE INDEX `audit_logs_created_at` ON `audit_logs` (`created_at`);--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
