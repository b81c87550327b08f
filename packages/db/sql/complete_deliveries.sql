-- switchboard_complete_deliveries: records a batch of finished attempts, in one statement (one
-- round trip, one commit):
--   * each delivery takes its new state, but only while the claim that made the attempt still
--     holds it (same attempt count, still 'delivering'): a worker whose lease expired and was
--     taken over cannot overwrite the newer claim; the attempts of those that did are recorded;
--   * a job's request moves its job along (state, last response) and, when the job ends, ends it
--     by switchboard_end_jobs (end_jobs.sql), which queues its callback; a callback's outcome is
--     recorded on its job;
--   * each subscription's health is updated once per batch: every failed attempt (not only a
--     delivery that failed for good) adds to subscriptions.failed_attempts, whether or not the
--     batch also holds a success, and a subscription that answered 410 Gone, or failed too many
--     deliveries in a row, or has been failing for too long, or whose failed attempts pass
--     max_failed_attempts (the Webhook test tool's counting), is disabled; its pending deliveries
--     then fail with the reason. Those subscriptions are returned (out_subscription_id,
--     out_reason) so that the caller can publish `subscription.disabled`.
-- The caller announces the changed deliveries afterwards: a NOTIFY here would hold every commit of
-- this function up behind the notification queue's lock.
--
-- Planner settings: this statement runs thousands of times a second against a table that swings
-- from empty to a backlog of many thousands faster than autovacuum's statistics follow. With stale
-- statistics Postgres picks a bitmap scan of every due row and a hash join or sort over them (ms
-- per call, growing with the backlog); the right plan is always the primary key and the due index,
-- so the function allows nothing else.
--
-- p_batch: a JSON array of compact records, one per claimed delivery (short keys: a busy worker
-- sends hundreds per statement; @switchboard/core's outbound store builds them):
--   id    the delivery's id.
--   n     its attempt count when it was claimed, this attempt included: the outcome is written
--         only while the row still has this count and is 'delivering'. Also the attempt's number,
--         and a job's attempt count.
--   rec   whether an attempt was made and is to be recorded. False when no request was sent: put
--         off by the rate limit, skipped (subscription disabled, job cancelled), out of attempts,
--         or a claim handed back untried; then no attempt row is written, the claim's attempt is
--         not counted (attempts goes back by one), and the response keys are ignored.
--   ok    the attempt succeeded (an accepted status code, by default any 2xx).
--   st    the delivery's new status: 'succeeded', 'pending' (due again at nxt), 'failed' or
--         'cancelled'. For a callback it also sets the job's notify_state: 'notified', 'pending'
--         or 'notify_failed'.
--   nxt   when the delivery is due again (timestamp), or null when it is done.
--   t     when the attempt started: the attempt's started_at, the delivery's last_attempt_at, and
--         the subscription's failing_since when it starts failing.
--   dur   the attempt's duration in milliseconds.
--   sc    the response's status code, or null when there was no response.
--   h     the response's headers ({name: value}), or null.
--   b     the response's body, base64 (as much as is kept), or null.
--   tr    the response's body was cut to the kept length.
--   err   the error recorded on the attempt and as the delivery's last_error, or null; without an
--         attempt, null keeps the delivery's last_error.
--   gone  the endpoint answered 410 Gone: the subscription is disabled.
--   jst   only for a job's own request: the job's new state ('succeeded', 'failed', 'retrying', or
--         'accepted' for a claim handed back before its first attempt); absent or null leaves the
--         job as it is. A job cancelled meanwhile keeps its state.
--   cb    only for a job's own request, when the job has ended and has a callback URL: the
--         callback's body, base64; a callback delivery is queued with it, due now (by
--         switchboard_end_jobs, the rule cancelling a job follows too).
--   cbt   with cb: the callback's timeout in milliseconds.
-- The recordset also declares sub, k and job, which are not read: the delivery row's own
-- subscription, kind and job are used.
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
  v_ends jsonb;
  v_health jsonb;
BEGIN
  WITH x AS (
      SELECT * FROM jsonb_to_recordset(p_batch) AS x(id bigint, n integer, sub uuid, rec boolean, ok boolean,
                                                     st text, nxt timestamptz, t timestamptz, dur integer,
                                                     sc integer, h jsonb, b text, tr boolean, err text,
                                                     gone boolean, k text, job uuid, jst text, cb text,
                                                     cbt integer)
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
                x.tr, x.err, x.n, x.jst, x.cb, x.cbt, coalesce(x.gone, false) AS gone
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
      -- A job cancelled while its request was out keeps its state; its callback was sent then. An
      -- end state is set by switchboard_end_jobs below, which also queues the callback.
      UPDATE jobs j
         SET state = CASE WHEN u.jst IN ('succeeded', 'failed') THEN j.state ELSE u.jst END,
             -- A claim handed back untried did not make its attempt.
             attempts = CASE WHEN u.rec THEN u.n ELSE u.n - 1 END,
             last_status_code = CASE WHEN u.rec THEN u.sc ELSE j.last_status_code END,
             last_error = CASE WHEN u.rec THEN u.err ELSE j.last_error END,
             response_headers = CASE WHEN u.rec THEN u.h ELSE j.response_headers END,
             response_body = CASE WHEN u.rec THEN decode(u.b, 'base64') ELSE j.response_body END,
             response_truncated = CASE WHEN u.rec THEN coalesce(u.tr, false) ELSE j.response_truncated END,
             updated_at = p_now
        FROM upd u
       WHERE u.kind = 'job' AND u.jst IS NOT NULL AND j.id = u.job_id AND j.state <> 'cancelled'
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
    ),
    health AS (
      SELECT subscription_id AS sub,
             bool_or(rec AND ok) AS any_ok,
             count(*) FILTER (WHERE rec AND NOT ok) AS failed_attempts,
             count(*) FILTER (WHERE rec AND st = 'failed') AS failed_deliveries,
             min(t) FILTER (WHERE rec AND NOT ok) AS first_failure,
             bool_or(gone) AS gone
        FROM upd
       WHERE subscription_id IS NOT NULL
       GROUP BY subscription_id
    )
  SELECT (SELECT jsonb_agg(jsonb_build_object('job', u.job_id, 'st', u.jst, 'cb', u.cb, 'cbt', u.cbt))
            FROM upd u WHERE u.kind = 'job' AND u.jst IN ('succeeded', 'failed')),
         (SELECT jsonb_agg(h) FROM health h)
    INTO v_ends, v_health;

  IF v_ends IS NOT NULL THEN
    PERFORM switchboard_end_jobs(p_now, v_ends);
  END IF;

  FOR r IN
    SELECT * FROM jsonb_to_recordset(coalesce(v_health, '[]')) AS h(sub uuid, any_ok boolean, failed_attempts integer,
                                                                   failed_deliveries integer, first_failure timestamptz,
                                                                   gone boolean)
     -- One order for every worker, so that two batches never wait on each other's subscriptions.
     ORDER BY h.sub
  LOOP
    v_reason := NULL;
    IF r.any_ok THEN
      -- At thousands of deliveries a second, last_success_at moves at most once a second. The
      -- failed attempts of the batch are tallied all the same: a success does not reset them.
      UPDATE subscriptions
         SET consecutive_failures = 0, failing_since = NULL, last_success_at = p_now,
             failed_attempts = failed_attempts + r.failed_attempts
       WHERE id = r.sub
         AND (consecutive_failures <> 0 OR failing_since IS NOT NULL OR last_success_at IS NULL
              OR last_success_at < p_now - interval '1 second' OR r.failed_attempts > 0);
      IF r.failed_attempts > 0 THEN
        SELECT s.failed_attempts || ' failed attempts, more than the maximum of ' || s.max_failed_attempts
          INTO v_reason
          FROM subscriptions s
         WHERE s.id = r.sub AND s.enabled
           AND s.max_failed_attempts IS NOT NULL AND s.failed_attempts > s.max_failed_attempts;
      END IF;
    ELSIF r.failed_attempts > 0 THEN
      UPDATE subscriptions s
         SET consecutive_failures = s.consecutive_failures + r.failed_deliveries,
             failing_since = coalesce(s.failing_since, r.first_failure),
             failed_attempts = s.failed_attempts + r.failed_attempts
       WHERE s.id = r.sub AND s.enabled
      RETURNING CASE
        WHEN r.gone THEN 'the endpoint answered 410 Gone'
        WHEN s.max_failed_attempts IS NOT NULL AND s.failed_attempts > s.max_failed_attempts
          THEN s.failed_attempts || ' failed attempts, more than the maximum of ' || s.max_failed_attempts
        WHEN s.disable_after_failures IS NOT NULL AND s.consecutive_failures >= s.disable_after_failures
          THEN s.consecutive_failures || ' deliveries in a row failed'
        WHEN s.disable_after_ms IS NOT NULL
             AND p_now - s.failing_since >= s.disable_after_ms * interval '1 millisecond'
          THEN 'no successful delivery since ' || to_char(s.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      END INTO v_reason;
    END IF;
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
  END LOOP;
END;
$$;
