-- switchboard_append_messages: appends a batch of messages to one queue in a single statement
-- (one round trip, one commit).
--
-- It takes the queue's row lock, skips repeats of stored or earlier de-duplication keys, numbers
-- the new messages lastSeq+1.. in order, trims the oldest past the count and byte limits, and
-- announces the new lastSeq on commit (NOTIFY switchboard_messages). The writer groups concurrent
-- requests' messages into one call (group commit); as the numbers are given under the queue's row
-- lock, the sequence numbers of one queue commit in order, without gaps.
--
-- p_batch: [{"i": index, "b": base64 body, "ct": content type, "h": {headers}, "ip": source,
--            "t": received at, "k": de-duplication key or null, "rq": {method, path, query} or null,
--            "a": true when the queue's actions are to run for it in the worker, "lu": null, or when
--            the writing process's runner takes it at once, the end of its lease}, ...]
-- A message with "a" gets its row in message_runs in the same statement, so that no stored message
-- can miss its actions: due now (the runners are woken on commit, NOTIFY switchboard_runs), or
-- already claimed until "lu" by the process that wrote it, which runs it without a claim.
-- Returns one row per element: its index, its sequence number (for a repeat: the stored
-- message's), and whether it was a repeat. Nothing when the queue does not exist.
CREATE OR REPLACE FUNCTION switchboard_append_messages(p_queue uuid, p_batch jsonb)
RETURNS TABLE (out_index integer, out_seq bigint, out_duplicate boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  q record;
  r record;
  v_seq bigint;
  v_count bigint;
  v_bytes bigint;
  v_existing bigint;
  v_cut bigint := 0;
  v_added integer := 0;
  v_keys jsonb := '{}'::jsonb;
  v_runs integer := 0;
BEGIN
  SELECT last_seq, message_count, total_bytes, max_message_count, max_queue_bytes, dropped_through_seq
    INTO q FROM queues WHERE id = p_queue FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  v_seq := q.last_seq;
  v_count := q.message_count;
  v_bytes := q.total_bytes;

  FOR r IN
    SELECT x.i, decode(x.b, 'base64') AS body, x.ct, x.h, x.ip, x.t, x.k, x.rq, x.a, x.lu
    FROM jsonb_to_recordset(p_batch)
      AS x(i integer, b text, ct text, h jsonb, ip text, t timestamptz, k text, rq jsonb, a boolean, lu timestamptz)
    ORDER BY x.i
  LOOP
    v_existing := NULL;
    IF r.k IS NOT NULL THEN
      v_existing := (v_keys ->> r.k)::bigint;
      IF v_existing IS NULL THEN
        SELECT m.seq INTO v_existing FROM messages m WHERE m.queue_id = p_queue AND m.dedup_key = r.k;
      END IF;
    END IF;
    IF v_existing IS NOT NULL THEN
      out_index := r.i; out_seq := v_existing; out_duplicate := true;
      RETURN NEXT;
      CONTINUE;
    END IF;
    v_seq := v_seq + 1;
    INSERT INTO messages (queue_id, seq, body, content_type, headers, source_ip, received_at, size, dedup_key, request)
      VALUES (p_queue, v_seq, r.body, r.ct, r.h, r.ip, r.t, length(r.body), r.k, r.rq);
    IF r.a AND r.lu IS NULL THEN
      INSERT INTO message_runs (queue_id, seq, due_at) VALUES (p_queue, v_seq, r.t);
      v_runs := v_runs + 1;
    ELSIF r.a THEN
      INSERT INTO message_runs (queue_id, seq, status, attempts, due_at) VALUES (p_queue, v_seq, 'running', 1, r.lu);
    END IF;
    IF r.k IS NOT NULL THEN
      v_keys := v_keys || jsonb_build_object(r.k, v_seq);
    END IF;
    v_added := v_added + 1;
    v_count := v_count + 1;
    v_bytes := v_bytes + length(r.body);
    out_index := r.i; out_seq := v_seq; out_duplicate := false;
    RETURN NEXT;
  END LOOP;

  IF v_added = 0 THEN
    RETURN;
  END IF;

  IF (q.max_message_count IS NOT NULL AND v_count > q.max_message_count)
     OR (q.max_queue_bytes IS NOT NULL AND v_bytes > q.max_queue_bytes) THEN
    FOR r IN
      SELECT m.seq, m.size FROM messages m
      WHERE m.queue_id = p_queue AND m.seq > q.dropped_through_seq
      ORDER BY m.seq
    LOOP
      EXIT WHEN (q.max_message_count IS NULL OR v_count <= q.max_message_count)
            AND (q.max_queue_bytes IS NULL OR v_bytes <= q.max_queue_bytes);
      v_count := v_count - 1;
      v_bytes := v_bytes - r.size;
      v_cut := r.seq;
    END LOOP;
    IF v_cut > 0 THEN
      DELETE FROM messages WHERE queue_id = p_queue AND seq <= v_cut;
    END IF;
  END IF;

  UPDATE queues
     SET last_seq = v_seq,
         message_count = v_count,
         total_bytes = v_bytes,
         dropped_through_seq = greatest(q.dropped_through_seq, v_cut)
   WHERE id = p_queue;
  PERFORM pg_notify('switchboard_messages', json_build_object('queueId', p_queue, 'lastSeq', v_seq)::text);
  IF v_runs > 0 THEN
    PERFORM pg_notify('switchboard_runs', p_queue::text);
  END IF;
END;
$$;
