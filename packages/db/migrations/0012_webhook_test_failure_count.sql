ALTER TABLE "subscriptions" ADD COLUMN "failed_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "max_failed_attempts" integer;
-- switchboard_complete_deliveries is defined in packages/db/sql/complete_deliveries.sql, which the migrator applies after the migrations.
