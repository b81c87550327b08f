-- Records a batch of finished attempts in one statement (one round trip, one commit), for the
-- delivery worker:
--   * every attempt that was made is inserted into delivery_attempts;
--   * each delivery takes its new state, but only while the claim that made the attempt still
--     holds it (same attempt count, still 'delivering'): a worker whose lease expired and was
--     taken over cannot overwrite the newer claim;
--   * each subscription's health is updated once per batch, and a subscription that answered
--     410 Gone, or failed too many deliveries in a row, or has been failing for too long, is
--     disabled; its pending deliveries then fail with the reason. Those subscriptions are returned
--     so that the caller can publish `subscription.disabled`;
-- The caller announces the changed deliveries afterwards: a NOTIFY here would hold every commit of
-- this function up behind the notification queue's lock.
-- p_batch: [{"id": delivery id, "n": attempt count at claim, "sub": subscription id or null,
--            "rec": whether an attempt was made (false: deferred or skipped without a request),
--            "ok": attempt succeeded, "st": new status, "nxt": next attempt at or null,
--            "t": started at, "dur": ms, "sc": status code, "h": {response headers},
--            "b": base64 response body, "tr": body truncated, "err": error, "gone": 410 Gone}, ...]
--
-- Planner settings: these statements run thousands of times a second against a table that swings
-- from empty to a backlog of many thousands faster than autovacuum's statistics follow. With stale
-- statistics Postgres picks a bitmap scan of every due row and a hash join or sort over them (ms
-- per call, growing with the backlog); the right plan is always the primary key and the due index,
-- so the functions allow nothing else.
CREATE OR REPLACE FUNCTION switchboard_complete_deliveries(p_now timestamptz, p_batch jsonb)
RETURNS TABLE (out_subscription_id uuid, out_reason text)
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_bitmapscan = off SET enable_seqscan = off
SET enable_material = off
AS $$
#variable_conflict use_column
DECLARE
  r record;
  v_reason text;
BEGIN
  INSERT INTO delivery_attempts
    (delivery_id, number, started_at, duration_ms, status_code, response_headers, response_body,
     response_truncated, error, succeeded)
  SELECT x.id, x.n, x.t, x.dur, x.sc, x.h, decode(x.b, 'base64'), coalesce(x.tr, false), x.err, x.ok
  FROM jsonb_to_recordset(p_batch) AS x(id bigint, n integer, rec boolean, ok boolean, t timestamptz,
                                        dur integer, sc integer, h jsonb, b text, tr boolean, err text)
  WHERE x.rec;

  FOR r IN
    WITH x AS (
      SELECT * FROM jsonb_to_recordset(p_batch) AS x(id bigint, n integer, sub uuid, rec boolean, ok boolean,
                                                     st text, nxt timestamptz, t timestamptz, sc integer,
                                                     err text, gone boolean)
    ),
    upd AS (
      UPDATE deliveries d
         SET status = x.st,
             next_attempt_at = x.nxt,
             attempts = CASE WHEN x.rec THEN d.attempts ELSE d.attempts - 1 END,
             last_attempt_at = CASE WHEN x.rec THEN x.t ELSE d.last_attempt_at END,
             last_status_code = CASE WHEN x.rec THEN x.sc ELSE d.last_status_code END,
             last_error = CASE WHEN x.rec OR x.err IS NOT NULL THEN x.err ELSE d.last_error END,
             completed_at = CASE WHEN x.st IN ('succeeded', 'failed', 'cancelled') THEN p_now END,
             updated_at = p_now
        FROM x
       WHERE d.id = x.id AND d.attempts = x.n AND d.status = 'delivering'
      RETURNING d.id, d.subscription_id, x.rec, x.ok, x.st, x.t, coalesce(x.gone, false) AS gone
    )
    SELECT subscription_id AS sub,
           bool_or(rec AND ok) AS any_ok,
           count(*) FILTER (WHERE rec AND NOT ok) AS failed_attempts,
           count(*) FILTER (WHERE rec AND st = 'failed') AS failed_deliveries,
           min(t) FILTER (WHERE rec AND NOT ok) AS first_failure,
           bool_or(gone) AS gone
      FROM upd
     GROUP BY subscription_id
     -- One order for every worker, so that two batches never wait on each other's subscriptions.
     ORDER BY subscription_id
  LOOP
    CONTINUE WHEN r.sub IS NULL;
    IF r.any_ok THEN
      -- At thousands of deliveries a second, last_success_at moves at most once a second.
      UPDATE subscriptions
         SET consecutive_failures = 0, failing_since = NULL, last_success_at = p_now
       WHERE id = r.sub
         AND (consecutive_failures <> 0 OR failing_since IS NOT NULL OR last_success_at IS NULL
              OR last_success_at < p_now - interval '1 second');
    ELSIF r.failed_attempts > 0 THEN
      UPDATE subscriptions s
         SET consecutive_failures = s.consecutive_failures + r.failed_deliveries,
             failing_since = coalesce(s.failing_since, r.first_failure)
       WHERE s.id = r.sub AND s.enabled
      RETURNING CASE
        WHEN r.gone THEN 'the endpoint answered 410 Gone'
        WHEN s.disable_after_failures IS NOT NULL AND s.consecutive_failures >= s.disable_after_failures
          THEN s.consecutive_failures || ' deliveries in a row failed'
        WHEN s.disable_after_ms IS NOT NULL
             AND p_now - s.failing_since >= s.disable_after_ms * interval '1 millisecond'
          THEN 'no successful delivery since ' || to_char(s.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      END INTO v_reason;
      IF v_reason IS NOT NULL THEN
        UPDATE subscriptions
           SET enabled = false, disabled_reason = v_reason, disabled_at = p_now, updated_at = p_now
         WHERE id = r.sub;
        UPDATE deliveries
           SET status = 'failed', next_attempt_at = NULL, completed_at = p_now, updated_at = p_now,
               last_error = 'not sent: the subscription was disabled (' || v_reason || ')'
         WHERE subscription_id = r.sub AND status = 'pending';
        out_subscription_id := r.sub;
        out_reason := v_reason;
        RETURN NEXT;
      END IF;
    END IF;
  END LOOP;

END;
$$;
--> statement-breakpoint
-- Claims up to p_limit due deliveries for a worker, in one statement: locks them (skipping rows
-- another worker holds), records an attempt with no outcome for each one whose earlier claim's
-- lease ran out (that worker died mid-attempt), and leases them: status 'delivering', with
-- next_attempt_at moved to the end of the lease (the subscription's timeout plus p_margin_ms).
-- Returns what an attempt needs: the delivery, its event's body, its subscription.
CREATE OR REPLACE FUNCTION switchboard_claim_deliveries(p_now timestamptz, p_limit integer, p_margin_ms integer,
                                                        p_event uuid)
RETURNS TABLE (id bigint, webhook_id text, attempts integer, attempt_offset integer,
               first_attempt_at timestamptz, event_id uuid, event_type text, body bytea,
               subscription_id uuid, url text, headers jsonb, signing jsonb, secret text,
               previous_secret text, previous_secret_expires_at timestamptz, timeout_ms integer,
               retry_policy jsonb, enabled boolean, rate_limit_per_second integer)
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_bitmapscan = off SET enable_seqscan = off
SET enable_sort = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH due AS (
    SELECT dd.id, dd.status AS was
      FROM deliveries dd
     WHERE dd.claimable AND dd.next_attempt_at <= p_now
       AND (p_event IS NULL OR dd.event_id = p_event)
     ORDER BY dd.next_attempt_at
     LIMIT p_limit
       FOR NO KEY UPDATE SKIP LOCKED
  ),
  lost AS (
    INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, error, succeeded)
    SELECT d0.id, d0.attempts, coalesce(d0.leased_at, p_now),
           greatest(0, extract(epoch FROM (p_now - coalesce(d0.leased_at, p_now))) * 1000)::int,
           'no outcome: the worker making this attempt stopped before it finished; the delivery is tried again',
           false
      FROM deliveries d0 JOIN due ON due.id = d0.id
     WHERE due.was = 'delivering'
  )
  UPDATE deliveries d
     SET status = 'delivering',
         attempts = d.attempts + 1,
         leased_at = p_now,
         first_attempt_at = coalesce(d.first_attempt_at, p_now),
         next_attempt_at = p_now + (s.timeout_ms + p_margin_ms) * interval '1 millisecond',
         updated_at = p_now
    FROM due, subscriptions s, events e
   WHERE d.id = due.id AND s.id = d.subscription_id AND e.id = d.event_id
  RETURNING d.id, d.webhook_id, d.attempts, d.attempt_offset, d.first_attempt_at,
            e.id, e.type, e.body,
            s.id, s.url, s.headers, s.signing, s.secret, s.previous_secret,
            s.previous_secret_expires_at, s.timeout_ms, s.retry_policy, s.enabled, s.rate_limit_per_second;
END;
$$;
--> statement-breakpoint
-- The table churns: every delivery is inserted, leased and completed. Vacuum and analyze it sooner
-- than the defaults (20% and 10% of the table changed) would.
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
--> statement-breakpoint
INSERT INTO event_types (name, description, schema) VALUES (
  'subscription.disabled',
  'Switchboard disabled a subscription that kept failing (or answered 410 Gone). Delivered to the owner''s subscriptions and to admins''.',
  '{"type": "object", "required": ["subscriptionId", "name", "url", "reason", "disabledAt"], "properties": {"subscriptionId": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"}, "reason": {"type": "string"}, "disabledAt": {"type": "string", "format": "date-time"}}}'::jsonb
) ON CONFLICT DO NOTHING;
