CREATE TABLE `broadcast_recipients` (
	`broadcast_id` text NOT NULL,
	`seq` integer NOT NULL,
	`contact_id` text NOT NULL,
	`address` text,
	`country` text,
	`skip_reason` text,
	PRIMARY KEY(`broadcast_id`, `seq`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `broadcast_recipients_contact` ON `broadcast_recipients` (`broadcast_id`,`contact_id`);--> statement-breakpoint
CREATE TABLE `broadcasts` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`api_key_id` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`request_fingerprint` text,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`channel` text NOT NULL,
	`from_channel_id` text,
	`content` text NOT NULL,
	`template_id` text,
	`category` text NOT NULL,
	`fallback` text NOT NULL,
	`audience` text NOT NULL,
	`priority` integer NOT NULL,
	`rate_limit_per_minute` integer NOT NULL,
	`schedule_at` integer,
	`timezone` text,
	`quiet_hours` text,
	`link_tracking` integer NOT NULL,
	`metadata` text NOT NULL,
	`total` integer,
	`skipped` text,
	`cost_estimate_micros` integer NOT NULL,
	`currency` text NOT NULL,
	`pause_reason` text,
	`failure_reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`started_at` integer,
	`completed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `broadcasts_key_idempotency` ON `broadcasts` (`api_key_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `broadcasts_tenant_env_id` ON `broadcasts` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE INDEX `broadcasts_status_schedule` ON `broadcasts` (`status`,`schedule_at`);--> statement-breakpoint
CREATE TABLE `link_clicks` (
	`id` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`message_id` text NOT NULL,
	`broadcast_id` text,
	`contact_id` text,
	`url` text NOT NULL,
	`user_agent` text,
	`clicked_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `link_clicks_broadcast` ON `link_clicks` (`broadcast_id`,`message_id`);--> statement-breakpoint
CREATE INDEX `link_clicks_message` ON `link_clicks` (`message_id`);--> statement-breakpoint
CREATE TABLE `tenant_broadcast_settings` (
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`rate_per_minute` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `environment`)
);
--> statement-breakpoint
CREATE TABLE `tracked_links` (
	`code` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`message_id` text NOT NULL,
	`broadcast_id` text,
	`contact_id` text,
	`url` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tracked_links_message_url` ON `tracked_links` (`message_id`,`url`);--> statement-breakpoint
ALTER TABLE `messages` ADD `broadcast_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `contact_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `test` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `messages_broadcast_status` ON `messages` (`broadcast_id`,`test`,`status`);--> statement-breakpoint
CREATE INDEX `messages_tenant_env_broadcast` ON `messages` (`tenant_id`,`environment`,`broadcast_id`,`id`);