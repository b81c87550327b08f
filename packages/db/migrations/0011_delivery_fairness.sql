ALTER TABLE "subscriptions" ADD COLUMN "max_in_flight" integer;
-- switchboard_claim_deliveries is defined in packages/db/sql/claim_deliveries.sql, which the migrator applies after the migrations.
