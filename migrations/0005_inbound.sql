CREATE TABLE `conversations` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`channel` text NOT NULL,
	`address` text NOT NULL,
	`contact_id` text,
	`last_inbound_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `conversations_address` ON `conversations` (`tenant_id`,`environment`,`channel`,`address`);--> statement-breakpoint
CREATE INDEX `conversations_tenant_env_id` ON `conversations` (`tenant_id`,`environment`,`id`);--> statement-breakpoint
CREATE INDEX `conversations_contact` ON `conversations` (`contact_id`);--> statement-breakpoint
CREATE TABLE `inbound_events` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`channel_id` text NOT NULL,
	`provider` text NOT NULL,
	`kind` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`provider_message_id` text,
	`item` text NOT NULL,
	`state` text NOT NULL,
	`note` text,
	`occurred_at` integer NOT NULL,
	`received_at` integer NOT NULL,
	`processed_at` integer,
	`hold_until` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `inbound_events_dedupe` ON `inbound_events` (`tenant_id`,`environment`,`channel_id`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `inbound_events_state` ON `inbound_events` (`state`,`received_at`);--> statement-breakpoint
CREATE TABLE `inbound_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`environment` text NOT NULL,
	`conversation_id` text NOT NULL,
	`contact_id` text,
	`channel` text NOT NULL,
	`channel_id` text NOT NULL,
	`from` text NOT NULL,
	`to` text NOT NULL,
	`provider_message_id` text NOT NULL,
	`content` text NOT NULL,
	`profile_name` text,
	`reply_to_message_id` text,
	`received_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `inbound_messages_provider_id` ON `inbound_messages` (`tenant_id`,`environment`,`channel_id`,`provider_message_id`);--> statement-breakpoint
CREATE INDEX `inbound_messages_conversation` ON `inbound_messages` (`conversation_id`,`id`);--> statement-breakpoint
CREATE INDEX `messages_tenant_env_to` ON `messages` (`tenant_id`,`environment`,`to`,`id`);