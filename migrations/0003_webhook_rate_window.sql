ALTER TABLE `webhook_endpoints` ADD `rate_window_start` integer;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `rate_window_count` integer DEFAULT 0 NOT NULL;