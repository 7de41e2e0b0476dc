// Topic routing (pgmq.md §7): patterns bound to queues, and sends that reach every queue whose
// pattern matches a routing key (one send per queue, in queue-name order, in one transaction).

export const topics = String.raw`
CREATE OR REPLACE FUNCTION pgmq._validate_topic_text(value text, what text, alphabet text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF value IS NULL OR value = '' THEN
    RAISE EXCEPTION '% cannot be NULL or empty', what;
  END IF;
  IF length(value) > 255 THEN
    RAISE EXCEPTION '% is too long: at most 255 characters, got %', what, length(value);
  END IF;
  IF value !~ ('^[' || alphabet || ']+$') THEN
    RAISE EXCEPTION '% contains invalid characters: only letters, digits, dots, hyphens and underscores%, got: %',
      what, CASE WHEN strpos(alphabet, '*') > 0 THEN ' (and the wildcards * and #)' ELSE '' END, value;
  END IF;
  IF left(value, 1) = '.' OR right(value, 1) = '.' THEN
    RAISE EXCEPTION '% cannot start or end with a dot, got: %', what, value;
  END IF;
  IF strpos(value, '..') > 0 THEN
    RAISE EXCEPTION '% cannot contain consecutive dots, got: %', what, value;
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.validate_routing_key(routing_key text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  PERFORM pgmq._validate_topic_text(routing_key, 'routing_key', 'A-Za-z0-9._-');
  RETURN true;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.validate_topic_pattern(pattern text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  PERFORM pgmq._validate_topic_text(pattern, 'pattern', 'A-Za-z0-9._*#-');
  IF pattern ~ '(\*\*|##|\*#|#\*)' THEN
    RAISE EXCEPTION 'pattern cannot contain adjacent wildcards (**, ##, *# or #*), got: %', pattern;
  END IF;
  RETURN true;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.bind_topic(pattern text, queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pgmq.validate_topic_pattern(pattern);
  IF NOT EXISTS (SELECT 1 FROM pgmq.meta AS m WHERE m.queue_name = bind_topic.queue_name) THEN
    RAISE EXCEPTION 'Queue "%" does not exist. Create it first using pgmq.create()', queue_name;
  END IF;
  EXECUTE 'INSERT INTO pgmq.topic_bindings (pattern, queue_name) VALUES ($1, $2)
           ON CONFLICT (pattern, queue_name) DO NOTHING'
    USING pattern, queue_name;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.unbind_topic(pattern text, queue_name text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  removed integer;
BEGIN
  EXECUTE 'DELETE FROM pgmq.topic_bindings WHERE pattern = $1 AND queue_name = $2' USING pattern, queue_name;
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed > 0;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_topic_bindings()
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz, compiled_regex text)
LANGUAGE sql STABLE AS $fn$
  SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex FROM pgmq.topic_bindings AS b
  ORDER BY b.bound_at DESC, b.pattern, b.queue_name
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_topic_bindings(queue_name text)
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz, compiled_regex text)
LANGUAGE sql STABLE AS $fn$
  SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex FROM pgmq.topic_bindings AS b
  WHERE b.queue_name = $1
  ORDER BY b.bound_at DESC, b.pattern
$fn$;

CREATE OR REPLACE FUNCTION pgmq.test_routing(routing_key text)
RETURNS TABLE (pattern text, queue_name text, compiled_regex text)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  PERFORM pgmq.validate_routing_key(routing_key);
  RETURN QUERY SELECT b.pattern, b.queue_name, b.compiled_regex FROM pgmq.topic_bindings AS b
    WHERE test_routing.routing_key ~ b.compiled_regex
    ORDER BY b.queue_name, b.pattern;
END
$fn$;

-- The queues a routing key reaches, each once, in name order.
CREATE OR REPLACE FUNCTION pgmq._topic_queues(routing_key text)
RETURNS SETOF text LANGUAGE sql STABLE AS $fn$
  SELECT DISTINCT b.queue_name FROM pgmq.topic_bindings AS b WHERE $1 ~ b.compiled_regex ORDER BY b.queue_name
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_topic(routing_key text, msg jsonb, headers jsonb, delay integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  target text;
  reached integer := 0;
BEGIN
  PERFORM pgmq.validate_routing_key(routing_key);
  IF msg IS NULL THEN
    RAISE EXCEPTION 'msg cannot be NULL';
  END IF;
  IF delay IS NULL OR delay < 0 THEN
    RAISE EXCEPTION 'delay cannot be negative, got: %', delay;
  END IF;
  FOR target IN SELECT pgmq._topic_queues(routing_key) LOOP
    PERFORM pgmq.send(target, msg, headers, delay);
    reached := reached + 1;
  END LOOP;
  RETURN reached;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_topic(routing_key text, msg jsonb)
RETURNS integer LANGUAGE sql AS $fn$ SELECT pgmq.send_topic(routing_key, msg, NULL::jsonb, 0) $fn$;

CREATE OR REPLACE FUNCTION pgmq.send_topic(routing_key text, msg jsonb, delay integer)
RETURNS integer LANGUAGE sql AS $fn$ SELECT pgmq.send_topic(routing_key, msg, NULL::jsonb, delay) $fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE plpgsql AS $fn$
DECLARE
  target text;
BEGIN
  PERFORM pgmq.validate_routing_key(routing_key);
  PERFORM pgmq._validate_batch_params(msgs, headers);
  FOR target IN SELECT pgmq._topic_queues(routing_key) LOOP
    RETURN QUERY SELECT target, sent.id FROM pgmq.send_batch(target, msgs, headers, delay) AS sent(id);
  END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq._topic_delay(delay integer)
RETURNS timestamptz LANGUAGE plpgsql AS $fn$
BEGIN
  IF delay IS NULL OR delay < 0 THEN
    RAISE EXCEPTION 'delay cannot be negative, got: %', delay;
  END IF;
  RETURN clock_timestamp() + make_interval(secs => delay);
END
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL::jsonb[], clock_timestamp())
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, headers, clock_timestamp())
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], delay integer)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL::jsonb[], pgmq._topic_delay(delay))
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL::jsonb[], delay)
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay integer)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, headers, pgmq._topic_delay(delay))
$fn$;
`
