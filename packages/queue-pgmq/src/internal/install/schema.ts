// The schema-level objects of the pgmq-compatible install (pgmq.md §2): the schema and its marker,
// the composite types whose field order clients rely on, the shared tables, and the naming helpers
// every function calls. Written for Nexus from the documented API; re-runnable (every object is
// created only when missing, every function is CREATE OR REPLACE).

/** The marker on schema `pgmq` that tells Nexus's install from the extension or another SQL install. */
export const MARKER = "Nexus pgmq-compatible install"

/** Bumped when the install's SQL changes; the marker carries it. */
export const INSTALL_VERSION = 1

/** The pgmq API the install reproduces. */
export const API_VERSION = "1.11.1"

export const schema = String.raw`
CREATE SCHEMA IF NOT EXISTS pgmq;
COMMENT ON SCHEMA pgmq IS '${MARKER} ${INSTALL_VERSION} (pgmq API ${API_VERSION}), without partitioned queues';

DO $install$
BEGIN
  -- Field order is part of the contract: clients read these positionally.
  IF to_regtype('pgmq.message_record') IS NULL THEN
    CREATE TYPE pgmq.message_record AS (
      msg_id bigint,
      read_ct integer,
      enqueued_at timestamptz,
      last_read_at timestamptz,
      vt timestamptz,
      message jsonb,
      headers jsonb
    );
  END IF;
  IF to_regtype('pgmq.queue_record') IS NULL THEN
    CREATE TYPE pgmq.queue_record AS (
      queue_name varchar,
      is_partitioned boolean,
      is_unlogged boolean,
      created_at timestamptz
    );
  END IF;
  IF to_regtype('pgmq.metrics_result') IS NULL THEN
    CREATE TYPE pgmq.metrics_result AS (
      queue_name text,
      queue_length bigint,
      newest_msg_age_sec integer,
      oldest_msg_age_sec integer,
      total_messages bigint,
      scrape_time timestamptz,
      queue_visible_length bigint
    );
  END IF;
END
$install$;

-- One row per queue, under the name as given (case kept).
CREATE TABLE IF NOT EXISTS pgmq.meta (
  queue_name varchar UNIQUE NOT NULL,
  is_partitioned boolean NOT NULL,
  is_unlogged boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Throttling state is disposable: unlogged, as pgmq has it.
CREATE UNLOGGED TABLE IF NOT EXISTS pgmq.notify_insert_throttle (
  queue_name varchar UNIQUE NOT NULL REFERENCES pgmq.meta (queue_name) ON DELETE CASCADE,
  throttle_interval_ms integer NOT NULL DEFAULT 0,
  last_notified_at timestamptz NOT NULL DEFAULT to_timestamp(0)
);
CREATE INDEX IF NOT EXISTS notify_insert_throttle_active_idx
  ON pgmq.notify_insert_throttle (queue_name, last_notified_at) WHERE throttle_interval_ms > 0;

-- A pattern's regular expression: dots literal, '*' one dot-free segment, '#' anything, anchored.
CREATE TABLE IF NOT EXISTS pgmq.topic_bindings (
  pattern text NOT NULL,
  queue_name text NOT NULL REFERENCES pgmq.meta (queue_name) ON DELETE CASCADE,
  bound_at timestamptz NOT NULL DEFAULT now(),
  compiled_regex text GENERATED ALWAYS AS (
    '^' || replace(replace(replace(pattern, '.', '\.'), '*', '[^.]+'), '#', '.*') || '$'
  ) STORED,
  UNIQUE (pattern, queue_name)
);
CREATE INDEX IF NOT EXISTS topic_bindings_pattern_idx
  ON pgmq.topic_bindings (pattern) INCLUDE (queue_name, compiled_regex);

CREATE OR REPLACE FUNCTION pgmq.format_table_name(queue_name text, prefix text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF strpos(queue_name, '$') > 0 OR strpos(queue_name, ';') > 0
     OR strpos(queue_name, '--') > 0 OR strpos(queue_name, '''') > 0 THEN
    RAISE EXCEPTION 'queue name contains invalid characters: $, ;, --, or \''';
  END IF;
  RETURN lower(prefix || '_' || queue_name);
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.validate_queue_name(queue_name text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  -- 47 = 63 (the longest identifier) - 16 (a partitioned queue's template table prefix).
  IF length(queue_name) > 47 THEN
    RAISE EXCEPTION 'queue name is too long, maximum length is 47 characters';
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.acquire_queue_lock(queue_name text)
RETURNS void LANGUAGE sql AS $fn$
  SELECT pg_advisory_xact_lock(hashtext('pgmq.queue_' || queue_name))
$fn$;

-- The table of a queue that must exist (NULL when it does not).
CREATE OR REPLACE FUNCTION pgmq._queue_table(queue_name text)
RETURNS regclass LANGUAGE sql STABLE AS $fn$
  SELECT to_regclass(format('pgmq.%I', pgmq.format_table_name(queue_name, 'q')))
$fn$;

CREATE OR REPLACE FUNCTION pgmq._validate_batch_params(msgs jsonb[], headers jsonb[])
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF msgs IS NULL OR cardinality(msgs) = 0 THEN
    RAISE EXCEPTION 'msgs cannot be NULL or empty';
  END IF;
  IF headers IS NOT NULL AND cardinality(headers) <> cardinality(msgs) THEN
    RAISE EXCEPTION 'headers array length (%) must match msgs array length (%)',
      cardinality(headers), cardinality(msgs);
  END IF;
END
$fn$;
`

/** Read access for monitoring, as pgmq grants it; last, so that it covers every table. */
export const grants = String.raw`
GRANT USAGE ON SCHEMA pgmq TO pg_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA pgmq TO pg_monitor;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA pgmq TO pg_monitor;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT ON TABLES TO pg_monitor;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT ON SEQUENCES TO pg_monitor;
`
