-- Each delivery carries its lane, the lane's cap and its attempt's timeout, so that claiming reads
-- the deliveries table alone, whatever the kind. Existing rows take them from their subscription
-- or job as the claim used to.
ALTER TABLE "deliveries" ADD COLUMN "lane" uuid;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "max_in_flight" integer;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "timeout_ms" integer;--> statement-breakpoint
UPDATE "deliveries" d SET "lane" = s."id", "max_in_flight" = s."max_in_flight", "timeout_ms" = s."timeout_ms"
  FROM "subscriptions" s WHERE s."id" = d."subscription_id";--> statement-breakpoint
UPDATE "deliveries" d SET "lane" = j."user_id",
       "timeout_ms" = CASE WHEN d."kind" = 'callback' THEN 15000 ELSE j."timeout_ms" END
  FROM "jobs" j WHERE j."id" = d."job_id";--> statement-breakpoint
ALTER TABLE "deliveries" ALTER COLUMN "lane" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "deliveries" ALTER COLUMN "timeout_ms" SET NOT NULL;
-- switchboard_claim_deliveries is defined in packages/db/sql/claim_deliveries.sql, which the migrator applies after the migrations.
