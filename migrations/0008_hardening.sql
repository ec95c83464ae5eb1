ALTER TABLE `messages` ADD `request_fingerprint` text;--> statement-breakpoint
-- Templates created twice by concurrent requests before this index existed: keep the oldest, retire the rest.
UPDATE `templates` SET `deleted_at` = `updated_at` WHERE `deleted_at` IS NULL AND EXISTS (SELECT 1 FROM `templates` AS `older` WHERE `older`.`tenant_id` = `templates`.`tenant_id` AND `older`.`environment` = `templates`.`environment` AND `older`.`name` = `templates`.`name` AND `older`.`language` = `templates`.`language` AND `older`.`deleted_at` IS NULL AND `older`.`id` < `templates`.`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `templates_unique_live_name` ON `templates` (`tenant_id`,`environment`,`name`,`language`) WHERE "templates"."deleted_at" IS NULL;
