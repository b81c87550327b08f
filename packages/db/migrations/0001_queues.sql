CREATE TABLE "clients" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"name" text NOT NULL,
	"queue_id" uuid,
	"queue_name" text NOT NULL,
	"cursor" bigint DEFAULT 0 NOT NULL,
	"state" text DEFAULT 'connected' NOT NULL,
	"needs_refresh" boolean DEFAULT false NOT NULL,
	"last_read_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"queue_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"body" "bytea" NOT NULL,
	"content_type" text,
	"headers" jsonb NOT NULL,
	"source_ip" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"size" integer NOT NULL,
	"dedup_key" text,
	CONSTRAINT "messages_queue_id_seq_pk" PRIMARY KEY("queue_id","seq")
);
--> statement-breakpoint
CREATE TABLE "queue_listeners" (
	"queue_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	CONSTRAINT "queue_listeners_queue_id_user_id_pk" PRIMARY KEY("queue_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "queues" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"verification" jsonb NOT NULL,
	"allowed_networks" text[] DEFAULT '{}' NOT NULL,
	"max_message_count" integer,
	"max_message_size" integer,
	"max_queue_bytes" bigint,
	"retention_seconds" integer,
	"dedup" jsonb,
	"managed_by" text DEFAULT 'api' NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"dropped_through_seq" bigint DEFAULT 0 NOT NULL,
	"message_count" integer DEFAULT 0 NOT NULL,
	"total_bytes" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "can_reload" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "managed_by" text DEFAULT 'api' NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "config_pass_hash" text;--> statement-breakpoint
ALTER TABLE "clients" ADD CONSTRAINT "clients_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clients" ADD CONSTRAINT "clients_queue_id_queues_id_fk" FOREIGN KEY ("queue_id") REFERENCES "public"."queues"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_queue_id_queues_id_fk" FOREIGN KEY ("queue_id") REFERENCES "public"."queues"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "queue_listeners" ADD CONSTRAINT "queue_listeners_queue_id_queues_id_fk" FOREIGN KEY ("queue_id") REFERENCES "public"."queues"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "queue_listeners" ADD CONSTRAINT "queue_listeners_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "clients_user_name_idx" ON "clients" USING btree ("user_id","name");--> statement-breakpoint
CREATE INDEX "clients_queue_idx" ON "clients" USING btree ("queue_id");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_dedup_idx" ON "messages" USING btree ("queue_id","dedup_key") WHERE "messages"."dedup_key" is not null;--> statement-breakpoint
CREATE INDEX "queue_listeners_user_idx" ON "queue_listeners" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "queues_name_idx" ON "queues" USING btree ("name");