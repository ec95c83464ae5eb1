DROP INDEX `contact_addresses_contact`;--> statement-breakpoint
CREATE INDEX `contact_addresses_contact_channel` ON `contact_addresses` (`contact_id`,`channel`,`created_at`,`address`);