ALTER TABLE "subscriptions" ADD COLUMN "body_format" text DEFAULT 'standard' NOT NULL;
-- switchboard_claim_deliveries is defined in packages/db/sql/claim_deliveries.sql, which the migrator applies after the migrations.
