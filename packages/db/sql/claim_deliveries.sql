-- switchboard_claim_deliveries: the delivery worker's claim, in one statement (one round trip, one
-- commit).
--
-- It claims up to p_limit due deliveries: locks them (skipping rows another worker holds), records
-- an attempt with no outcome for each one whose earlier claim's lease ran out (that worker died
-- mid-attempt), and leases them: status 'delivering', attempts counted, with next_attempt_at moved
-- to the end of the lease (the delivery's timeout_ms plus p_margin_ms). It returns the claimed
-- rows of the deliveries table as they now are. It reads that table alone and knows no kind of
-- delivery: what an attempt needs besides (an event and its subscription, a job) each kind loads
-- for its own rows (see packages/core/src/outbound/kind.ts). A claim may be limited to one
-- event's deliveries (p_event) or to one job's (p_job: its request and its callback).
--
-- Fair claiming: one endpoint that never answers must not take every worker slot.
--
-- Due deliveries are grouped in lanes (deliveries.lane: an event's delivery in its subscription's,
-- a job's request and callback in the lane of the job's owner). The claiming worker says, in
-- p_room ({lane: n}), how many more of each lane it holds room for (its requests in flight per
-- lane are capped, see the delivery worker); a lane it does not name may have its cap plus p_ahead
-- in this claim: the row's max_in_flight, or p_default_cap when that is null.
--
-- The claim looks at the first 2 × p_limit due rows of the lanes with room (a full lane's rows are
-- passed over in the scan: left in the window, a backlog of them would keep every other lane out;
-- the price is a scan over that backlog, about 1.5 ms per 10,000 rows), ranks each lane's rows by
-- due time, keeps those within the lane's room, and takes them rank by rank (every lane's first, then
-- every lane's second, ...) up to p_limit. Only the rows taken are locked (SKIP LOCKED, rechecked
-- as still due): locking the whole window would write a lock to rows that are not claimed.
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
RETURNS SETOF deliveries
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
    SELECT dd.id, dd.next_attempt_at AS due_at, dd.lane,
           coalesce((p_room ->> dd.lane::text)::int, coalesce(dd.max_in_flight, p_default_cap) + p_ahead) AS room
      FROM deliveries dd
     WHERE dd.claimable AND dd.next_attempt_at <= p_now
       AND (p_event IS NULL OR dd.event_id = p_event)
       AND (p_job IS NULL OR dd.job_id = p_job)
       -- A full lane's rows are passed over here, before the limit: otherwise a backlog of them
       -- could fill the window and keep every other lane out of it.
       AND dd.lane <> ALL (v_full)
     ORDER BY dd.next_attempt_at
     LIMIT 2 * p_limit
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
    SELECT dd.id, dd.status AS was
      FROM deliveries dd
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
           next_attempt_at = p_now + (d.timeout_ms + p_margin_ms) * interval '1 millisecond',
           updated_at = p_now
      FROM due
     WHERE d.id = due.id
    RETURNING d.*
  )
  SELECT * FROM claimed;
END;
$$;
