-- The delivery worker's two statements, as functions (one round trip, one commit each).
--
-- switchboard_claim_deliveries claims up to p_limit due deliveries: locks them (skipping rows
-- another worker holds), records an attempt with no outcome for each one whose earlier claim's lease
-- ran out (that worker died mid-attempt), and leases them: status 'delivering', with
-- next_attempt_at moved to the end of the lease (the subscription's or job's timeout plus
-- p_margin_ms). It returns what an attempt needs, for each kind of delivery: an event to a
-- subscription, a job's own request, a job's callback. A claim may be limited to one event's
-- deliveries or to one job's (its request and its callback).
--
-- switchboard_complete_deliveries records a batch of finished attempts:
--   * each delivery takes its new state, but only while the claim that made the attempt still
--     holds it (same attempt count, still 'delivering'): a worker whose lease expired and was
--     taken over cannot overwrite the newer claim; the attempts of those that did are recorded;
--   * a job's request moves its job along (state, last response) and, when the job ends, queues
--     its callback; a callback's outcome is recorded on its job;
--   * each subscription's health is updated once per batch, and a subscription that answered
--     410 Gone, or failed too many deliveries in a row, or has been failing for too long, is
--     disabled; its pending deliveries then fail with the reason. Those subscriptions are returned
--     so that the caller can publish `subscription.disabled`.
-- The caller announces the changed deliveries afterwards: a NOTIFY here would hold every commit of
-- this function up behind the notification queue's lock.
--
-- Planner settings: these statements run thousands of times a second against a table that swings
-- from empty to a backlog of many thousands faster than autovacuum's statistics follow. With stale
-- statistics Postgres picks a bitmap scan of every due row and a hash join or sort over them (ms
-- per call, growing with the backlog); the right plan is always the primary key and the due index,
-- so the functions allow nothing else.
CREATE OR REPLACE FUNCTION switchboard_claim_deliveries(p_now timestamptz, p_limit integer, p_margin_ms integer, p_event uuid,
                                             p_job uuid)
RETURNS TABLE (id bigint, kind text, webhook_id text, attempts integer, attempt_offset integer,
               first_attempt_at timestamptz, delivery_body bytea,
               event_id uuid, event_type text, event_body bytea,
               subscription_id uuid, url text, headers jsonb, signing jsonb, secret text,
               previous_secret text, previous_secret_expires_at timestamptz, timeout_ms integer,
               retry_policy jsonb, enabled boolean, rate_limit_per_second integer,
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
         s.timeout_ms, s.retry_policy, s.enabled, s.rate_limit_per_second,
         j.id, j.state, j.url, j.method, j.headers, j.body, j.timeout_ms, j.retry_policy,
         j.accepted_statuses, j.callback_url, j.callback_retry_policy, u.signing_secret
    FROM claimed c
    LEFT JOIN events e ON e.id = c.event_id
    LEFT JOIN subscriptions s ON s.id = c.subscription_id
    LEFT JOIN jobs j ON j.id = c.job_id
    LEFT JOIN users u ON u.id = j.user_id;
END;
$$;
--> statement-breakpoint
-- p_batch: [{"id": delivery id, "n": attempt count at claim, "sub": subscription id or null,
--            "rec": whether an attempt was made (false: deferred or skipped without a request),
--            "ok": attempt succeeded, "st": new status, "nxt": next attempt at or null,
--            "t": started at, "dur": ms, "sc": status code, "h": {response headers},
--            "b": base64 response body, "tr": body truncated, "err": error, "gone": 410 Gone,
--            "k": delivery kind, "job": job id, "jst": the job's new state ('succeeded', 'failed',
--            'retrying', or 'accepted' for a claim handed back before its first attempt), "cb": base64 body of the callback to queue now that the job has ended}, ...]
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
  FOR r IN
    WITH x AS (
      SELECT * FROM jsonb_to_recordset(p_batch) AS x(id bigint, n integer, sub uuid, rec boolean, ok boolean,
                                                     st text, nxt timestamptz, t timestamptz, dur integer,
                                                     sc integer, h jsonb, b text, tr boolean, err text,
                                                     gone boolean, k text, job uuid, jst text, cb text)
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
      RETURNING d.id, d.subscription_id, d.kind, d.job_id, x.rec, x.ok, x.st, x.t, x.dur, x.sc, x.h, x.b,
                x.tr, x.err, x.n, x.jst, x.cb, coalesce(x.gone, false) AS gone
    ),
    -- Only attempts whose claim still held the delivery: the row may have been deleted meanwhile
    -- (its subscription or job went), or taken over after the lease ran out (the take-over already
    -- recorded this attempt as having no outcome).
    logged AS (
      INSERT INTO delivery_attempts
        (delivery_id, number, started_at, duration_ms, status_code, response_headers, response_body,
         response_truncated, error, succeeded)
      SELECT u.id, u.n, u.t, u.dur, u.sc, u.h, decode(u.b, 'base64'), coalesce(u.tr, false), u.err, u.ok
        FROM upd u
       WHERE u.rec
    ),
    job_moved AS (
      -- A job cancelled while its request was out keeps its state; its callback was sent then.
      UPDATE jobs j
         SET state = u.jst,
             -- A claim handed back untried did not make its attempt.
             attempts = CASE WHEN u.rec THEN u.n ELSE u.n - 1 END,
             last_status_code = CASE WHEN u.rec THEN u.sc ELSE j.last_status_code END,
             last_error = CASE WHEN u.rec THEN u.err ELSE j.last_error END,
             response_headers = CASE WHEN u.rec THEN u.h ELSE j.response_headers END,
             response_body = CASE WHEN u.rec THEN decode(u.b, 'base64') ELSE j.response_body END,
             response_truncated = CASE WHEN u.rec THEN coalesce(u.tr, false) ELSE j.response_truncated END,
             finished_at = CASE WHEN u.jst IN ('succeeded', 'failed') THEN p_now ELSE j.finished_at END,
             notify_state = CASE WHEN u.cb IS NOT NULL THEN 'pending' ELSE j.notify_state END,
             updated_at = p_now
        FROM upd u
       WHERE u.kind = 'job' AND u.jst IS NOT NULL AND j.id = u.job_id AND j.state <> 'cancelled'
      RETURNING j.id, u.cb
    ),
    callback_queued AS (
      INSERT INTO deliveries (kind, job_id, body, next_attempt_at, created_at, updated_at)
      SELECT 'callback', m.id, decode(m.cb, 'base64'), p_now, p_now, p_now
        FROM job_moved m
       WHERE m.cb IS NOT NULL
    ),
    notified AS (
      UPDATE jobs j
         SET notify_state = CASE u.st WHEN 'succeeded' THEN 'notified'
                                      WHEN 'pending' THEN 'pending'
                                      ELSE 'notify_failed' END,
             notify_status_code = CASE WHEN u.rec THEN u.sc ELSE j.notify_status_code END,
             notify_error = CASE WHEN u.rec THEN u.err ELSE j.notify_error END,
             updated_at = p_now
        FROM upd u
       WHERE u.kind = 'callback' AND j.id = u.job_id
    )
    SELECT subscription_id AS sub,
           bool_or(rec AND ok) AS any_ok,
           count(*) FILTER (WHERE rec AND NOT ok) AS failed_attempts,
           count(*) FILTER (WHERE rec AND st = 'failed') AS failed_deliveries,
           min(t) FILTER (WHERE rec AND NOT ok) AS first_failure,
           bool_or(gone) AS gone
      FROM upd
     WHERE subscription_id IS NOT NULL
     GROUP BY subscription_id
     -- One order for every worker, so that two batches never wait on each other's subscriptions.
     ORDER BY subscription_id
  LOOP
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
