CREATE TABLE `channels` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`type` text NOT NULL,
	`name` text NOT NULL,
	`config` text NOT NULL,
	`secrets_ciphertext` text NOT NULL,
	`created_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `channels_tenant_env_id` ON `channels` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE TABLE `customer_windows` (
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`channel` text NOT NULL,
	`address` text NOT NULL,
	`last_inbound_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `environment`, `channel`, `address`)
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`type` text NOT NULL,
	`subject_id` text NOT NULL,
	`sequence` integer NOT NULL,
	`data` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_tenant_env_id` ON `events` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `events_subject_sequence` ON `events` (`subject_id`,`sequence`);--> statement-breakpoint
CREATE TABLE `ledger_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`kind` text NOT NULL,
	`amount_micros` integer NOT NULL,
	`balance_after_micros` integer NOT NULL,
	`message_id` text,
	`hop` integer,
	`description` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ledger_tenant_env_id` ON `ledger_entries` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_once_per_hop` ON `ledger_entries` (`message_id`,`hop`,`kind`);--> statement-breakpoint
CREATE TABLE `messages` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`api_key_id` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`channel` text NOT NULL,
	`to` text NOT NULL,
	`from_channel_id` text,
	`country` text,
	`content_kind` text NOT NULL,
	`content` text NOT NULL,
	`template_id` text,
	`category` text NOT NULL,
	`priority` integer NOT NULL,
	`status` text NOT NULL,
	`scheduled_at` integer,
	`metadata` text NOT NULL,
	`cost_estimate_micros` integer NOT NULL,
	`currency` text NOT NULL,
	`fallback` text NOT NULL,
	`hop` integer DEFAULT 0 NOT NULL,
	`hops` text NOT NULL,
	`provider_message_id` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`error_code` text,
	`error_reason` text,
	`timestamps` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `messages_key_idempotency` ON `messages` (`api_key_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `messages_tenant_env_id` ON `messages` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE INDEX `messages_provider_id` ON `messages` (`provider_message_id`);--> statement-breakpoint
CREATE TABLE `outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`subject_id` text NOT NULL,
	`payload` text NOT NULL,
	`priority` integer DEFAULT 1 NOT NULL,
	`available_at` integer NOT NULL,
	`lease_until` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `outbox_due` ON `outbox` (`available_at`);--> statement-breakpoint
CREATE INDEX `outbox_subject` ON `outbox` (`subject_id`);--> statement-breakpoint
CREATE TABLE `templates` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`channel_id` text,
	`name` text NOT NULL,
	`language` text NOT NULL,
	`category` text NOT NULL,
	`channel` text NOT NULL,
	`body` text NOT NULL,
	`header` text,
	`buttons` text,
	`placeholder_style` text NOT NULL,
	`placeholders` text NOT NULL,
	`status` text NOT NULL,
	`rejection_reason` text,
	`provider_template_id` text,
	`review_due_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `templates_tenant_env_id` ON `templates` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE INDEX `templates_lookup` ON `templates` (`tenant_id`,`environment`,`name`,`language`);--> statement-breakpoint
CREATE TABLE `wallets` (
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`balance_micros` integer NOT NULL,
	`currency` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `environment`),
	CONSTRAINT "wallets_balance_not_negative" CHECK("wallets"."balance_micros" >= 0)
);
