ALTER TABLE "subscriptions" ADD COLUMN "body_format" text DEFAULT 'standard' NOT NULL;
--> statement-breakpoint
-- The claim also answers each subscription's body format (the worker shapes the body from it).
-- Its result type changes, so it is dropped and created again: same body as in 0008 otherwise.
DROP FUNCTION switchboard_claim_deliveries(timestamptz, integer, integer, uuid, uuid);
--> statement-breakpoint
CREATE FUNCTION switchboard_claim_deliveries(p_now timestamptz, p_limit integer, p_margin_ms integer, p_event uuid,
                                             p_job uuid)
RETURNS TABLE (id bigint, kind text, webhook_id text, attempts integer, attempt_offset integer,
               first_attempt_at timestamptz, delivery_body bytea,
               event_id uuid, event_type text, event_body bytea,
               subscription_id uuid, url text, headers jsonb, signing jsonb, secret text,
               previous_secret text, previous_secret_expires_at timestamptz, timeout_ms integer,
               retry_policy jsonb, enabled boolean, rate_limit_per_second integer, body_format text,
               job_id uuid, job_state text, job_url text, job_method text, job_headers jsonb, job_body bytea,
               job_timeout_ms integer, job_retry_policy jsonb, job_accepted_statuses integer[],
               job_callback_url text, job_callback_retry_policy jsonb, owner_secret text)
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_bitmapscan = off SET enable_seqscan = off
SET enable_sort = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH due AS (
    -- A callback is sent within 15 s (the worker's CALLBACK_TIMEOUT_MS), whatever its job's timeout.
    SELECT dd.id, dd.status AS was,
           CASE WHEN dd.kind = 'callback' THEN 15000 ELSE coalesce(s0.timeout_ms, j0.timeout_ms, 15000) END AS lease_ms
      FROM deliveries dd
      LEFT JOIN subscriptions s0 ON s0.id = dd.subscription_id
      LEFT JOIN jobs j0 ON j0.id = dd.job_id
     WHERE dd.claimable AND dd.next_attempt_at <= p_now
       AND (p_event IS NULL OR dd.event_id = p_event)
       AND (p_job IS NULL OR dd.job_id = p_job)
     ORDER BY dd.next_attempt_at
     LIMIT p_limit
       FOR NO KEY UPDATE OF dd SKIP LOCKED
  ),
  lost AS (
    INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, error, succeeded)
    SELECT d0.id, d0.attempts, coalesce(d0.leased_at, p_now),
           greatest(0, extract(epoch FROM (p_now - coalesce(d0.leased_at, p_now))) * 1000)::int,
           'no outcome: the worker making this attempt stopped before it finished; the delivery is tried again',
           false
      FROM deliveries d0 JOIN due ON due.id = d0.id
     WHERE due.was = 'delivering'
  ),
  claimed AS (
    UPDATE deliveries d
       SET status = 'delivering',
           attempts = d.attempts + 1,
           leased_at = p_now,
           first_attempt_at = coalesce(d.first_attempt_at, p_now),
           next_attempt_at = p_now + (due.lease_ms + p_margin_ms) * interval '1 millisecond',
           updated_at = p_now
      FROM due
     WHERE d.id = due.id
    RETURNING d.id, d.kind, d.webhook_id, d.attempts, d.attempt_offset, d.first_attempt_at, d.body,
              d.event_id, d.subscription_id, d.job_id
  ),
  running AS (
    UPDATE jobs
       SET state = 'running', updated_at = p_now
      FROM claimed c
     WHERE jobs.id = c.job_id AND c.kind = 'job' AND jobs.state IN ('accepted', 'retrying')
  )
  SELECT c.id, c.kind, c.webhook_id, c.attempts, c.attempt_offset, c.first_attempt_at, c.body,
         e.id, e.type, e.body,
         s.id, s.url, s.headers, s.signing, s.secret, s.previous_secret, s.previous_secret_expires_at,
         s.timeout_ms, s.retry_policy, s.enabled, s.rate_limit_per_second, s.body_format,
         j.id, j.state, j.url, j.method, j.headers, j.body, j.timeout_ms, j.retry_policy,
         j.accepted_statuses, j.callback_url, j.callback_retry_policy, u.signing_secret
    FROM claimed c
    LEFT JOIN events e ON e.id = c.event_id
    LEFT JOIN subscriptions s ON s.id = c.subscription_id
    LEFT JOIN jobs j ON j.id = c.job_id
    LEFT JOIN users u ON u.id = j.user_id;
END;
$$;
