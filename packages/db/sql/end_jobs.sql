-- switchboard_end_jobs: jobs end, and those with a callback URL have their callback queued. The one
-- rule for it: the delivery worker's completion calls it for jobs whose request has ended
-- (switchboard_complete_deliveries), and cancelling a job calls it (the job store).
--
-- p_ends: a JSON array, one record per job:
--   job   the job's id.
--   st    its end state: 'succeeded', 'failed' or 'cancelled'.
--   cb    the callback's body, base64 (built by the caller, see packages/core/src/jobs/
--         job-callback.ts), or null: no callback is sent.
--   cbt   the callback's timeout in milliseconds (its lease lasts this plus the worker's margin).
-- Only a job that has not ended yet ends: an attempt that finishes after its job was cancelled
-- leaves it cancelled, and no second callback is queued. The callback goes in the lane of the job's
-- owner, due now; the job's notify_state becomes 'pending' until it is sent.
-- Returns the jobs that ended.
CREATE OR REPLACE FUNCTION switchboard_end_jobs(p_now timestamptz, p_ends jsonb)
RETURNS TABLE (out_job_id uuid)
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH x AS (
    SELECT * FROM jsonb_to_recordset(p_ends) AS x(job uuid, st text, cb text, cbt integer)
  ),
  ended AS (
    UPDATE jobs j
       SET state = x.st,
           finished_at = p_now,
           notify_state = CASE WHEN x.cb IS NOT NULL THEN 'pending' ELSE j.notify_state END,
           updated_at = p_now
      FROM x
     WHERE j.id = x.job AND j.state IN ('accepted', 'running', 'retrying')
    RETURNING j.id, j.user_id, x.cb, x.cbt
  ),
  callback_queued AS (
    INSERT INTO deliveries (kind, job_id, body, lane, timeout_ms, next_attempt_at, created_at, updated_at)
    SELECT 'callback', e.id, decode(e.cb, 'base64'), e.user_id, e.cbt, p_now, p_now, p_now
      FROM ended e
     WHERE e.cb IS NOT NULL
  )
  SELECT ended.id FROM ended;
END;
$$;
