-- switchboard_claim_deliveries: the delivery worker's claim, in one statement (one round trip, one
-- commit).
--
-- It claims up to p_limit due deliveries: locks them (skipping rows another worker holds), records
-- an attempt with no outcome for each one whose earlier claim's lease ran out (that worker died
-- mid-attempt), and leases them: status 'delivering', attempts counted, with next_attempt_at moved
-- to the end of the lease (the subscription's or job's timeout plus p_margin_ms). A job whose own
-- request is claimed becomes 'running'. It returns what an attempt needs, for each kind of
-- delivery: an event to a subscription (with the subscription's body format, which the worker
-- shapes the body from), a job's own request, a job's callback (signed with the secret of the
-- job's owner). A claim may be limited to one event's deliveries (p_event) or to one job's
-- (p_job: its request and its callback).
--
-- Fair claiming: one endpoint that never answers must not take every worker slot.
--
-- Due deliveries are grouped in lanes: an event's delivery in its subscription's, a job's request
-- and callback in the lane of the job's owner (the user id). The claiming worker says, in p_room
-- ({lane: n}), how many more of each lane it holds room for (its requests in flight per lane are
-- capped, see the delivery worker); a lane it does not name may have its cap plus p_ahead in this
-- claim: subscriptions.max_in_flight, or p_default_cap when that is null and for jobs' lanes.
--
-- The claim looks at the first 2 × p_limit due rows of the lanes with room (a full lane's rows are
-- passed over in the scan: left in the window, a backlog of them would keep every other lane out;
-- the price is a scan over that backlog, about 1.5 ms per 10,000 rows), ranks each lane's rows by
-- due time, keeps those within the lane's room, and takes them rank by rank (every lane's first, then
-- every lane's second, ...) up to p_limit. Only the rows taken are locked (SKIP LOCKED, rechecked
-- as still due): locking the whole window would write a lock to rows that are not claimed.
-- It returns each row's lane and the subscription's max_in_flight.
--
-- Planner settings: this statement runs thousands of times a second against a table that swings
-- from empty to a backlog of many thousands faster than autovacuum's statistics follow. With stale
-- statistics Postgres picks a bitmap scan of every due row and a hash join or sort over them (ms
-- per call, growing with the backlog); the right plan is always the primary key and the due index,
-- so the function allows nothing else. The window must be sorted whatever the planner settings
-- say, and those settings price the sort so high that Postgres would JIT-compile every claim
-- (hundreds of milliseconds each): jit is off.
CREATE OR REPLACE FUNCTION switchboard_claim_deliveries(p_now timestamptz, p_limit integer, p_margin_ms integer,
                                                        p_event uuid, p_job uuid, p_default_cap integer,
                                                        p_ahead integer, p_room jsonb)
RETURNS TABLE (id bigint, kind text, webhook_id text, attempts integer, attempt_offset integer,
               first_attempt_at timestamptz, delivery_body bytea,
               event_id uuid, event_type text, event_body bytea,
               subscription_id uuid, url text, headers jsonb, signing jsonb, secret text,
               previous_secret text, previous_secret_expires_at timestamptz, timeout_ms integer,
               retry_policy jsonb, enabled boolean, rate_limit_per_second integer, body_format text,
               max_in_flight integer, lane uuid,
               job_id uuid, job_state text, job_url text, job_method text, job_headers jsonb, job_body bytea,
               job_timeout_ms integer, job_retry_policy jsonb, job_accepted_statuses integer[],
               job_callback_url text, job_callback_retry_policy jsonb, owner_secret text)
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_bitmapscan = off SET enable_seqscan = off
SET enable_sort = off SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  -- The lanes the claimer has no room for.
  v_full uuid[] := ARRAY(SELECT r.key::uuid FROM jsonb_each_text(p_room) r WHERE r.value::int <= 0);
BEGIN
  RETURN QUERY
  WITH win AS (
    SELECT w.id, w.due_at, w.lane, coalesce((p_room ->> w.lane::text)::int, w.cap + p_ahead) AS room
      FROM (
        SELECT dd.id, dd.next_attempt_at AS due_at, coalesce(dd.subscription_id, j0.user_id) AS lane,
               coalesce(s0.max_in_flight, p_default_cap) AS cap
          FROM deliveries dd
          LEFT JOIN subscriptions s0 ON s0.id = dd.subscription_id
          LEFT JOIN jobs j0 ON j0.id = dd.job_id
         WHERE dd.claimable AND dd.next_attempt_at <= p_now
           AND (p_event IS NULL OR dd.event_id = p_event)
           AND (p_job IS NULL OR dd.job_id = p_job)
           -- A full lane's rows are passed over here, before the limit: otherwise a backlog of
           -- them could fill the window and keep every other lane out of it. An event's lane is
           -- tested before the joins, a job's after.
           AND (dd.subscription_id IS NULL OR dd.subscription_id <> ALL (v_full))
           AND (dd.subscription_id IS NOT NULL OR j0.user_id <> ALL (v_full))
         ORDER BY dd.next_attempt_at
         LIMIT 2 * p_limit
      ) w
  ),
  picked AS (
    SELECT r.id
      FROM (SELECT win.id, win.due_at, win.room,
                   row_number() OVER (PARTITION BY win.lane ORDER BY win.due_at, win.id) AS rnk
              FROM win) r
     WHERE r.rnk <= r.room
     ORDER BY r.rnk, r.due_at
     LIMIT p_limit
  ),
  due AS (
    -- A callback is sent within 15 s (the worker's CALLBACK_TIMEOUT_MS), whatever its job's timeout.
    SELECT dd.id, dd.status AS was,
           CASE WHEN dd.kind = 'callback' THEN 15000 ELSE coalesce(s0.timeout_ms, j0.timeout_ms, 15000) END AS lease_ms,
           coalesce(dd.subscription_id, j0.user_id) AS lane
      FROM deliveries dd
      LEFT JOIN subscriptions s0 ON s0.id = dd.subscription_id
      LEFT JOIN jobs j0 ON j0.id = dd.job_id
     -- An array of ids, looked up by primary key: joined to the CTE, the planner would walk the
     -- whole backlog once per picked row.
     WHERE dd.id = ANY (ARRAY(SELECT picked.id FROM picked))
       AND dd.claimable AND dd.next_attempt_at <= p_now
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
              d.event_id, d.subscription_id, d.job_id, due.lane
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
         s.max_in_flight, c.lane,
         j.id, j.state, j.url, j.method, j.headers, j.body, j.timeout_ms, j.retry_policy,
         j.accepted_statuses, j.callback_url, j.callback_retry_policy, u.signing_secret
    FROM claimed c
    LEFT JOIN events e ON e.id = c.event_id
    LEFT JOIN subscriptions s ON s.id = c.subscription_id
    LEFT JOIN jobs j ON j.id = c.job_id
    LEFT JOIN users u ON u.id = j.user_id;
END;
$$;
