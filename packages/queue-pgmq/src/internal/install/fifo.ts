// Grouped (FIFO) reads (pgmq.md §5): the group is the `x-pgmq-group` header, or one default group
// for every message without it. Each read updates the rows it picks exactly as `read` does.
import { readUpdate, record, withPoll } from "./messages.ts"

const group = `coalesce(headers->>'x-pgmq-group', '_default_fifo_group')`

/** A grouped read: `picked` (a CTE of msg_ids, using `$2` = qty) then `read`'s update. */
const groupedRead = (name: string, comment: string, picked: string, output = `RETURNING ${record("q")}`) =>
  String.raw`
CREATE OR REPLACE FUNCTION pgmq.${name}(queue_name text, vt integer, qty integer)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
BEGIN
  -- ${comment}
  RETURN QUERY EXECUTE format($q$
    ${picked}${readUpdate} AND q.vt <= clock_timestamp()
    ${output}
  $q$, pgmq.format_table_name(queue_name, 'q'))
    USING vt, qty;
END
$fn$;
${withPoll(name)}`

export const fifo =
  groupedRead(
    "read_grouped",
    "A message is eligible when no earlier message of its group is invisible (in flight or delayed); the batch takes the oldest group's run first, then the next group's.",
    String.raw`WITH messages AS (
      SELECT msg_id, vt <= clock_timestamp() AS visible,
             min(msg_id) FILTER (WHERE vt > clock_timestamp()) OVER byGroup AS first_hidden,
             min(msg_id) FILTER (WHERE vt <= clock_timestamp()) OVER byGroup AS first_visible
      FROM pgmq.%1$I
      WINDOW byGroup AS (PARTITION BY ${group})
    ),
    picked AS (
      SELECT q.msg_id FROM pgmq.%1$I AS q JOIN messages AS m ON m.msg_id = q.msg_id
      WHERE m.visible AND (m.first_hidden IS NULL OR m.msg_id < m.first_hidden)
      ORDER BY m.first_visible, m.msg_id
      LIMIT $2
      FOR UPDATE OF q SKIP LOCKED
    )`
  ) +
  groupedRead(
    "read_grouped_rr",
    "Round robin: a group takes part when its head (visible or not) is visible and its advisory lock is free (held to the end of the caller's transaction); the first message of every such group, then the second, and so on, returned in that order.",
    String.raw`WITH messages AS (
      SELECT msg_id, grp, vt <= clock_timestamp() AS visible,
             min(msg_id) OVER byGroup AS head,
             min(msg_id) FILTER (WHERE vt > clock_timestamp()) OVER byGroup AS first_hidden
      FROM (SELECT msg_id, vt, ${group} AS grp FROM pgmq.%1$I) AS grouped
      WINDOW byGroup AS (PARTITION BY grp)
    ),
    heads AS MATERIALIZED (
      SELECT grp, head FROM messages WHERE msg_id = head AND visible
    ),
    taken AS MATERIALIZED (
      SELECT grp, head FROM heads WHERE pg_try_advisory_xact_lock(hashtextextended(grp, 0))
    ),
    runs AS (
      SELECT m.msg_id, t.head, row_number() OVER (PARTITION BY m.grp ORDER BY m.msg_id) AS turn
      FROM messages AS m JOIN taken AS t ON t.grp = m.grp
      WHERE m.visible AND (m.first_hidden IS NULL OR m.msg_id < m.first_hidden)
    ),
    picked AS (
      SELECT q.msg_id, r.turn, r.head FROM pgmq.%1$I AS q JOIN runs AS r ON r.msg_id = q.msg_id
      ORDER BY r.turn, r.head
      LIMIT $2
      FOR UPDATE OF q SKIP LOCKED
    ),
    updated AS (`,
    `RETURNING ${record("q")}, picked.turn, picked.head
    )
    SELECT ${record("updated")} FROM updated ORDER BY updated.turn, updated.head`
  ) +
  groupedRead(
    "read_grouped_head",
    "At most one message per group: each group's head, when it is visible, oldest first.",
    String.raw`WITH heads AS (
      SELECT DISTINCT ON (${group}) msg_id, vt FROM pgmq.%1$I ORDER BY ${group}, msg_id
    ),
    picked AS (
      SELECT q.msg_id FROM pgmq.%1$I AS q JOIN heads AS h ON h.msg_id = q.msg_id
      WHERE h.vt <= clock_timestamp()
      ORDER BY q.msg_id
      LIMIT $2
      FOR UPDATE OF q SKIP LOCKED
    )`
  )
