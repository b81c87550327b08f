CREATE TABLE "action_runs" (
	"queue_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"position" integer NOT NULL,
	"action" text NOT NULL,
	"status" text NOT NULL,
	"output" text,
	"error" text,
	"duration_ms" integer,
	"attempts" integer DEFAULT 1 NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"delivery_id" bigint,
	"request" jsonb,
	CONSTRAINT "action_runs_queue_id_seq_position_pk" PRIMARY KEY("queue_id","seq","position")
);
--> statement-breakpoint
CREATE TABLE "message_runs" (
	"queue_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"position" integer DEFAULT 0 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"due_at" timestamp with time zone DEFAULT now() NOT NULL,
	"context" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "message_runs_queue_id_seq_pk" PRIMARY KEY("queue_id","seq")
);
--> statement-breakpoint
CREATE TABLE "rejected_messages" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "rejected_messages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"queue_id" uuid NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"method" text NOT NULL,
	"path" text NOT NULL,
	"headers" jsonb NOT NULL,
	"body" "bytea" NOT NULL,
	"source_ip" text,
	"rule" text NOT NULL,
	"field" text NOT NULL,
	"reason" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "request" jsonb;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "path" text;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "rules" jsonb;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "actions" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "respond" text DEFAULT 'at-once' NOT NULL;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "response" jsonb;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "rejected" text DEFAULT 'refuse' NOT NULL;--> statement-breakpoint
ALTER TABLE "queues" ADD COLUMN "dialect" text DEFAULT 'switchboard' NOT NULL;--> statement-breakpoint
ALTER TABLE "action_runs" ADD CONSTRAINT "action_runs_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "action_runs" ADD CONSTRAINT "action_runs_queue_id_seq_messages_queue_id_seq_fk" FOREIGN KEY ("queue_id","seq") REFERENCES "public"."messages"("queue_id","seq") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "message_runs" ADD CONSTRAINT "message_runs_queue_id_seq_messages_queue_id_seq_fk" FOREIGN KEY ("queue_id","seq") REFERENCES "public"."messages"("queue_id","seq") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rejected_messages" ADD CONSTRAINT "rejected_messages_queue_id_queues_id_fk" FOREIGN KEY ("queue_id") REFERENCES "public"."queues"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "action_runs_delivery_idx" ON "action_runs" USING btree ("delivery_id");--> statement-breakpoint
CREATE INDEX "message_runs_due_idx" ON "message_runs" USING btree ("due_at") WHERE "message_runs"."status" in ('pending', 'running');--> statement-breakpoint
CREATE INDEX "rejected_messages_queue_idx" ON "rejected_messages" USING btree ("queue_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "queues_path_idx" ON "queues" USING btree ("path") WHERE "queues"."path" is not null;