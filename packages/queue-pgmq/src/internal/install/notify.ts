// Insert notifications (pgmq.md §6): a deferrable constraint trigger on the queue table notifies
// channel `pgmq.q_<name>.INSERT` (empty payload) at most once per throttle interval.
//
// Two deliberate differences from pgmq 1.11: the channel carries the queue's name as given (pgmq
// 1.11 derived it from the lower-cased table and so never notified for mixed-case names; 1.13.1
// fixed it this way — for lower-case names the channel is the same), and a sender never waits for
// another transaction's throttle update (pgmq's row update serialises concurrent senders until
// commit): when another sender is recording a notification right now, it is the one that notifies.
// The price: should that sender roll back, this insert goes unannounced like one inside the
// throttle interval — listeners must read on a timer as well (LlmQueue.awaitResult does, every
// second). With no throttle (0) every insert notifies regardless.

export const notify = String.raw`
CREATE OR REPLACE FUNCTION pgmq._notify_insert()
RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  queue text := TG_ARGV[0];
  throttle integer;
BEGIN
  SELECT t.throttle_interval_ms INTO throttle FROM pgmq.notify_insert_throttle AS t WHERE t.queue_name = queue;
  UPDATE pgmq.notify_insert_throttle AS t SET last_notified_at = clock_timestamp()
  WHERE t.queue_name = (
    SELECT d.queue_name FROM pgmq.notify_insert_throttle AS d
    WHERE d.queue_name = queue
      AND (d.throttle_interval_ms = 0
           OR d.last_notified_at <= clock_timestamp() - make_interval(secs => d.throttle_interval_ms / 1000.0))
    FOR NO KEY UPDATE SKIP LOCKED);
  IF FOUND OR coalesce(throttle, 0) = 0 THEN
    PERFORM pg_notify('pgmq.q_' || queue || '.INSERT', NULL);
  END IF;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq._require_queue(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF pgmq._queue_table(queue_name) IS NULL
     OR NOT EXISTS (SELECT 1 FROM pgmq.meta AS m WHERE m.queue_name = _require_queue.queue_name) THEN
    RAISE EXCEPTION 'Queue "%" does not exist. Create it first using pgmq.create()', queue_name;
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq._check_throttle(throttle_interval_ms integer)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF throttle_interval_ms IS NULL OR throttle_interval_ms < 0 THEN
    RAISE EXCEPTION 'throttle_interval_ms must be non-negative, got: %', throttle_interval_ms;
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.enable_notify_insert(queue_name text, throttle_interval_ms integer DEFAULT 250)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  PERFORM pgmq._check_throttle(throttle_interval_ms);
  PERFORM pgmq._require_queue(queue_name);
  EXECUTE 'INSERT INTO pgmq.notify_insert_throttle (queue_name, throttle_interval_ms) VALUES ($1, $2)
           ON CONFLICT (queue_name) DO UPDATE
           SET throttle_interval_ms = EXCLUDED.throttle_interval_ms, last_notified_at = to_timestamp(0)'
    USING queue_name, throttle_interval_ms;
  EXECUTE format('DROP TRIGGER IF EXISTS trigger_notify_queue_insert_listeners ON pgmq.%I', qtable);
  EXECUTE format(
    'CREATE CONSTRAINT TRIGGER trigger_notify_queue_insert_listeners AFTER INSERT ON pgmq.%I
     DEFERRABLE FOR EACH ROW EXECUTE FUNCTION pgmq._notify_insert(%L)',
    qtable, queue_name);
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.disable_notify_insert(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF pgmq._queue_table(queue_name) IS NOT NULL THEN
    EXECUTE format('DROP TRIGGER IF EXISTS trigger_notify_queue_insert_listeners ON pgmq.%I',
      pgmq.format_table_name(queue_name, 'q'));
  END IF;
  EXECUTE 'DELETE FROM pgmq.notify_insert_throttle WHERE queue_name = $1' USING queue_name;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.update_notify_insert(queue_name text, throttle_interval_ms integer)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  updated integer;
BEGIN
  PERFORM pgmq._check_throttle(throttle_interval_ms);
  PERFORM pgmq._require_queue(queue_name);
  EXECUTE 'UPDATE pgmq.notify_insert_throttle SET throttle_interval_ms = $2 WHERE queue_name = $1'
    USING queue_name, throttle_interval_ms;
  GET DIAGNOSTICS updated = ROW_COUNT;
  IF updated = 0 THEN
    RAISE EXCEPTION 'Notifications are not enabled for queue "%": enable them with pgmq.enable_notify_insert()', queue_name;
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_notify_insert_throttles()
RETURNS TABLE (queue_name varchar, throttle_interval_ms integer, last_notified_at timestamptz)
LANGUAGE sql STABLE AS $fn$
  SELECT t.queue_name, t.throttle_interval_ms, t.last_notified_at
  FROM pgmq.notify_insert_throttle AS t ORDER BY t.queue_name
$fn$;
`
