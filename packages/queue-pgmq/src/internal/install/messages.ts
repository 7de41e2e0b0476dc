// Producing and consuming (pgmq.md §3–§4): send and send_batch with their exact overload set, read,
// pop, set_vt, archive and delete. One implementation per operation; the other overloads are SQL
// functions that fill in the defaults and call it.

/** The columns of `pgmq.message_record`, in its order, from the row `alias`. */
export const record = (alias: string) =>
  ["msg_id", "read_ct", "enqueued_at", "last_read_at", "vt", "message", "headers"]
    .map((column) => `${alias}.${column}`)
    .join(", ")

/** The update every read makes to the rows it picked (`picked.msg_id`), returning them. */
export const readUpdate = String.raw`
    UPDATE pgmq.%1$I AS q
    SET vt = clock_timestamp() + make_interval(secs => $1),
        read_ct = q.read_ct + 1,
        last_read_at = clock_timestamp()
    FROM picked
    WHERE q.msg_id = picked.msg_id`

/**
 * `name_with_poll`: calls `name` until it answers or `max_poll_seconds` pass, sleeping
 * `poll_interval_ms` between tries (each try sees what committed since).
 */
export const withPoll = (name: string, extra = "", extraArgument = "") => String.raw`
CREATE OR REPLACE FUNCTION pgmq.${name}_with_poll(
  queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5,
  poll_interval_ms integer DEFAULT 100${extra})
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  deadline timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
BEGIN
  LOOP
    RETURN QUERY SELECT * FROM pgmq.${name}(
      ${name}_with_poll.queue_name, ${name}_with_poll.vt, ${name}_with_poll.qty${extraArgument});
    IF FOUND OR clock_timestamp() >= deadline THEN
      RETURN;
    END IF;
    PERFORM pg_sleep(poll_interval_ms / 1000.0);
  END LOOP;
END
$fn$;
`

const send = String.raw`
CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY EXECUTE format(
    'INSERT INTO pgmq.%I (vt, message, headers) VALUES ($1, $2, $3) RETURNING msg_id',
    pgmq.format_table_name(queue_name, 'q'))
    USING delay, msg, headers;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, clock_timestamp())
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, headers, clock_timestamp())
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, clock_timestamp() + make_interval(secs => delay))
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay timestamptz)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, delay)
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, headers, clock_timestamp() + make_interval(secs => delay))
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pgmq._validate_batch_params(msgs, headers);
  -- Inserted in input order, so the ids come back in it.
  RETURN QUERY EXECUTE format(
    'INSERT INTO pgmq.%I (vt, message, headers)
     SELECT $1, m.message, h.headers
     FROM unnest($2) WITH ORDINALITY AS m(message, position)
     LEFT JOIN unnest($3) WITH ORDINALITY AS h(headers, position) USING (position)
     ORDER BY m.position
     RETURNING msg_id',
    pgmq.format_table_name(queue_name, 'q'))
    USING delay, msgs, headers;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[])
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[], clock_timestamp())
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[])
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, headers, clock_timestamp())
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[], clock_timestamp() + make_interval(secs => delay))
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay timestamptz)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[], delay)
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, headers, clock_timestamp() + make_interval(secs => delay))
$fn$;
`

const consume = String.raw`
CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt integer, qty integer, conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH picked AS (
      SELECT msg_id FROM pgmq.%1$I
      WHERE vt <= clock_timestamp() AND ($3 = '{}'::jsonb OR message @> $3)
      ORDER BY msg_id
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    )${readUpdate}
    RETURNING ${record("q")}
  $q$, pgmq.format_table_name(queue_name, 'q'))
    USING vt, qty, conditional;
END
$fn$;
${withPoll("read", ", conditional jsonb DEFAULT '{}'", ", read_with_poll.conditional")}
CREATE OR REPLACE FUNCTION pgmq.pop(queue_name text, qty integer DEFAULT 1)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
BEGIN
  -- At most once: removed as read, neither counted as a read nor archived.
  RETURN QUERY EXECUTE format(
    'WITH picked AS (
       SELECT msg_id FROM pgmq.%1$I
       WHERE vt <= clock_timestamp()
       ORDER BY msg_id
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     )
     DELETE FROM pgmq.%1$I AS q USING picked WHERE q.msg_id = picked.msg_id
     RETURNING ${record("q")}',
    pgmq.format_table_name(queue_name, 'q'))
    USING qty;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_ids bigint[], vt timestamptz)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY EXECUTE format(
    'UPDATE pgmq.%I AS q SET vt = $2 WHERE q.msg_id = ANY($1) RETURNING ${record("q")}',
    pgmq.format_table_name(queue_name, 'q'))
    USING msg_ids, vt;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_ids bigint[], vt integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.set_vt(queue_name, msg_ids, clock_timestamp() + make_interval(secs => vt))
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint, vt timestamptz)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.set_vt(queue_name, ARRAY[msg_id], vt)
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint, vt integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.set_vt(queue_name, ARRAY[msg_id], clock_timestamp() + make_interval(secs => vt))
$fn$;

CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH moved AS (
       DELETE FROM pgmq.%I WHERE msg_id = ANY($1)
       RETURNING msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers
     )
     INSERT INTO pgmq.%I (msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers)
     SELECT msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers FROM moved
     RETURNING msg_id',
    pgmq.format_table_name(queue_name, 'q'), pgmq.format_table_name(queue_name, 'a'))
    USING msg_ids;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_id bigint)
RETURNS boolean LANGUAGE sql AS $fn$
  SELECT EXISTS (SELECT 1 FROM pgmq.archive(queue_name, ARRAY[msg_id]))
$fn$;

CREATE OR REPLACE FUNCTION pgmq."delete"(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY EXECUTE format(
    'DELETE FROM pgmq.%I WHERE msg_id = ANY($1) RETURNING msg_id', pgmq.format_table_name(queue_name, 'q'))
    USING msg_ids;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq."delete"(queue_name text, msg_id bigint)
RETURNS boolean LANGUAGE sql AS $fn$
  SELECT EXISTS (SELECT 1 FROM pgmq."delete"(queue_name, ARRAY[msg_id]))
$fn$;
`

export const messages = send + consume
