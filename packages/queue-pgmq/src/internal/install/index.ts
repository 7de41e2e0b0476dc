// The compatible install as one script (for psql) and as its statements, one by one (PostgreSQL's
// extended protocol, which the client speaks, takes a single statement per query).
import { fifo } from "./fifo.ts"
import { messages } from "./messages.ts"
import { notify } from "./notify.ts"
import { queues } from "./queues.ts"
import { grants, schema } from "./schema.ts"
import { topics } from "./topics.ts"

export { API_VERSION, INSTALL_VERSION, MARKER } from "./schema.ts"

/** Concurrent installs (two `nexus db migrate` at once) wait for each other instead of racing. */
const lock = "SELECT pg_advisory_xact_lock(hashtext('nexus.pgmq_install'));\n"

/** The whole install, without a transaction around it. */
export const body = [lock, schema, queues, messages, fifo, notify, topics, grants].join("\n")

/**
 * `script` cut into its statements: at each `;` outside quotes (`'…'`, `"…"`, `$tag$…$tag$`) and
 * comments.
 */
export const split = (script: string): ReadonlyArray<string> => {
  const statements: Array<string> = []
  let start = 0
  let index = 0
  while (index < script.length) {
    const char = script[index]!
    if (char === "'" || char === '"') {
      const end = script.indexOf(char, index + 1)
      index = end === -1 ? script.length : end + 1
    } else if (char === "-" && script[index + 1] === "-") {
      const end = script.indexOf("\n", index)
      index = end === -1 ? script.length : end + 1
    } else if (char === "$") {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(index))?.[0]
      if (tag === undefined) {
        index++
      } else {
        const end = script.indexOf(tag, index + tag.length)
        index = end === -1 ? script.length : end + tag.length
      }
    } else if (char === ";") {
      const statement = script.slice(start, index).trim()
      if (statement.length > 0) statements.push(statement)
      start = ++index
    } else {
      index++
    }
  }
  const rest = script.slice(start).trim()
  if (rest.length > 0) statements.push(rest)
  return statements
}

/** The install's statements, in order. */
export const statements = split(body)
