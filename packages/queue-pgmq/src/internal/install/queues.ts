// Queue management (pgmq.md §4 "Queue management"): create, drop, purge, list, metrics, FIFO indexes.
// Dynamic SQL goes through EXECUTE … USING, so parameters never collide with column names.

export const queues = String.raw`
CREATE OR REPLACE FUNCTION pgmq._create_queue(queue_name text, unlogged boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
BEGIN
  PERFORM pgmq.validate_queue_name(queue_name);
  PERFORM pgmq.acquire_queue_lock(queue_name);
  EXECUTE format(
    'CREATE %s TABLE IF NOT EXISTS pgmq.%I (
       msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
       read_ct integer NOT NULL DEFAULT 0,
       enqueued_at timestamptz NOT NULL DEFAULT now(),
       last_read_at timestamptz,
       vt timestamptz NOT NULL,
       message jsonb,
       headers jsonb
     )',
    CASE WHEN unlogged THEN 'UNLOGGED' ELSE '' END, qtable);
  EXECUTE format(
    'CREATE TABLE IF NOT EXISTS pgmq.%I (
       msg_id bigint PRIMARY KEY,
       read_ct integer NOT NULL DEFAULT 0,
       enqueued_at timestamptz NOT NULL DEFAULT now(),
       last_read_at timestamptz,
       archived_at timestamptz NOT NULL DEFAULT now(),
       vt timestamptz NOT NULL,
       message jsonb,
       headers jsonb
     )',
    atable);
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I (vt ASC)', qtable || '_vt_idx', qtable);
  -- Named after the name as given, as pgmq names it.
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I (archived_at)', 'archived_at_idx_' || queue_name, atable);
  EXECUTE 'INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged) VALUES ($1, false, $2)
           ON CONFLICT (queue_name) DO NOTHING'
    USING queue_name, unlogged;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_non_partitioned(queue_name text)
RETURNS void LANGUAGE sql AS $fn$ SELECT pgmq._create_queue(queue_name, false) $fn$;

CREATE OR REPLACE FUNCTION pgmq."create"(queue_name text)
RETURNS void LANGUAGE sql AS $fn$ SELECT pgmq._create_queue(queue_name, false) $fn$;

CREATE OR REPLACE FUNCTION pgmq.create_unlogged(queue_name text)
RETURNS void LANGUAGE sql AS $fn$ SELECT pgmq._create_queue(queue_name, true) $fn$;

CREATE OR REPLACE FUNCTION pgmq._partitions_unsupported()
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_partman') THEN
    RAISE EXCEPTION 'pg_partman is required for partitioned queues';
  END IF;
  RAISE EXCEPTION 'partitioned queues are not available in the Nexus pgmq-compatible install'
    USING HINT = 'Create the queue with pgmq.create(), or install the pgmq extension for partitioned queues.';
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_partitioned(
  queue_name text, partition_interval text DEFAULT '10000', retention_interval text DEFAULT '100000')
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pgmq.format_table_name(queue_name, 'q');
  PERFORM pgmq.validate_queue_name(queue_name);
  PERFORM pgmq._partitions_unsupported();
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.convert_archive_partitioned(
  table_name text, partition_interval text DEFAULT '10000', retention_interval text DEFAULT '100000',
  leading_partition integer DEFAULT 10)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF to_regclass(format('pgmq.%I', pgmq.format_table_name(table_name, 'a'))) IS NULL THEN
    RAISE NOTICE 'pgmq archive table for queue % does not exist', table_name;
    RETURN;
  END IF;
  PERFORM pgmq._partitions_unsupported();
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.drop_queue(queue_name text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
BEGIN
  PERFORM pgmq.acquire_queue_lock(queue_name);
  IF pgmq._queue_table(queue_name) IS NULL THEN
    RAISE NOTICE 'pgmq queue ${"`"}%${"`"} does not exist', queue_name;
    RETURN false;
  END IF;
  EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', qtable);
  EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', atable);
  -- The row under this exact name only: pgmq's, whose meta keeps names as given.
  EXECUTE 'DELETE FROM pgmq.meta WHERE queue_name = $1' USING queue_name;
  RETURN true;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.drop_queue(queue_name text, partitioned boolean)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE WARNING 'drop_queue(queue_name, partitioned) is deprecated: call drop_queue(queue_name)';
  PERFORM pgmq.drop_queue(queue_name);
  RETURN true;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.purge_queue(queue_name text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  purged bigint;
BEGIN
  -- Locked first, so the count is exactly what the TRUNCATE removes.
  EXECUTE format('LOCK TABLE pgmq.%I IN ACCESS EXCLUSIVE MODE', qtable);
  EXECUTE format('SELECT count(*) FROM pgmq.%I', qtable) INTO purged;
  EXECUTE format('TRUNCATE pgmq.%I', qtable);
  RETURN purged;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.detach_archive(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE WARNING 'detach_archive(queue_name) is deprecated and does nothing: archives are plain tables';
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_queues()
RETURNS SETOF pgmq.queue_record LANGUAGE sql STABLE AS $fn$
  SELECT m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at FROM pgmq.meta m
$fn$;

CREATE OR REPLACE FUNCTION pgmq.metrics(queue_name text)
RETURNS pgmq.metrics_result LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  result pgmq.metrics_result;
BEGIN
  -- Ages and visibility by transaction time, as pgmq reports them; the total is every id the
  -- sequence handed out (rolled-back sends included).
  EXECUTE format(
    'SELECT $1, count(*), floor(extract(epoch FROM now() - max(q.enqueued_at)))::integer,
            floor(extract(epoch FROM now() - min(q.enqueued_at)))::integer,
            (SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END FROM %s s),
            now(), count(*) FILTER (WHERE q.vt <= now())
     FROM pgmq.%I q',
    pg_get_serial_sequence(format('pgmq.%I', qtable), 'msg_id'), qtable)
    INTO result USING queue_name;
  RETURN result;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.metrics_all()
RETURNS SETOF pgmq.metrics_result LANGUAGE plpgsql AS $fn$
DECLARE
  queue record;
BEGIN
  FOR queue IN SELECT m.queue_name FROM pgmq.meta m ORDER BY m.queue_name LOOP
    RETURN NEXT pgmq.metrics(queue.queue_name);
  END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_fifo_index(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I USING gin (headers)', qtable || '_fifo_idx', qtable);
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_fifo_indexes_all()
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  queue record;
BEGIN
  FOR queue IN SELECT m.queue_name FROM pgmq.meta m LOOP
    PERFORM pgmq.create_fifo_index(queue.queue_name);
  END LOOP;
END
$fn$;
`
