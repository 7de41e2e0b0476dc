/**
 * Where pgmq comes from on a server: the `pgmq` extension when the server has it, else Nexus's own
 * pgmq-compatible install — schema `pgmq` with the same tables, types, functions, signatures and
 * semantics as pgmq 1.11 (partitioned queues aside), written for Nexus from the documented API.
 *
 * `nexus db migrate` runs {@link install}; {@link script} is the same install as one idempotent
 * SQL script, for `psql -f` on any PostgreSQL (`nexus db pgmq-sql`).
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql"
import * as Install from "./internal/install/index.ts"

/**
 * What provides pgmq on a server: the extension, Nexus's compatible install, another SQL-only
 * install (pgmq's own `pgmq.sql`, used as it is), or nothing yet.
 *
 * @since 0.1.0
 * @category models
 */
export const Mode = Schema.Literals(["extension", "nexus", "sql", "absent"])

/**
 * @since 0.1.0
 * @category models
 */
export type Mode = typeof Mode.Type

/**
 * What a server has, and what it could have.
 *
 * @since 0.1.0
 * @category models
 */
export class Installation extends Schema.Class<Installation>("@nexus/queue-pgmq/Installation")({
  mode: Mode,
  /** The extension's version, or the compatible install's (`nexus 1, pgmq API 1.11.1`). */
  version: Schema.NullOr(Schema.String),
  /** The extension version the server could install, when it has the extension's files. */
  extensionAvailable: Schema.NullOr(Schema.String)
}) {
  /**
   * One line for people: what provides pgmq here.
   *
   * @since 0.1.0
   */
  get description(): string {
    switch (this.mode) {
      case "extension":
        return `the pgmq extension ${this.version}`
      case "nexus":
        return `Nexus's pgmq-compatible install (${this.version})`
      case "sql":
        return "a SQL-only pgmq install (schema pgmq without the extension)"
      case "absent":
        return this.extensionAvailable === null
          ? "not installed (the server has no pgmq extension: `nexus db migrate` installs Nexus's compatible schema)"
          : `not installed (the server offers the pgmq extension ${this.extensionAvailable}: \`nexus db migrate\` creates it)`
    }
  }
}

/**
 * The compatible install as one SQL script: idempotent (every run leaves the same schema, queues
 * and messages untouched), in one transaction.
 *
 * @since 0.1.0
 * @category install
 */
export const script = `-- ${Install.MARKER} ${Install.INSTALL_VERSION}: the pgmq ${Install.API_VERSION} API (without
-- partitioned queues) in schema pgmq, for servers without the pgmq extension.
-- Run it with: psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f pgmq.sql
-- It can be run again (for example after upgrading Nexus): queues and messages are kept.
BEGIN;
${Install.statements.map((statement) => `${statement};`).join("\n\n")}
COMMIT;
`

const Detected = Schema.Struct({
  extension: Schema.NullOr(Schema.String),
  available: Schema.NullOr(Schema.String),
  marker: Schema.NullOr(Schema.String),
  has_send: Schema.Boolean
})

const markerVersion = new RegExp(`^${Install.MARKER} (\\d+) \\(pgmq API ([^)]+)\\)`)

/**
 * What provides pgmq on the server the `SqlClient` reaches.
 *
 * @since 0.1.0
 * @category install
 */
export const detect: Effect.Effect<Installation, SqlError.SqlError | Schema.SchemaError, SqlClient.SqlClient> =
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql`
      SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pgmq') AS extension,
             (SELECT default_version FROM pg_available_extensions WHERE name = 'pgmq') AS available,
             obj_description(to_regnamespace('pgmq'), 'pg_namespace') AS marker,
             EXISTS (SELECT 1 FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'pgmq' AND p.proname = 'send') AS has_send`
    const found = yield* Schema.decodeUnknownEffect(Detected)(row)
    const ours = found.marker === null ? null : markerVersion.exec(found.marker)
    const [mode, version]: [Mode, string | null] =
      found.extension !== null
        ? ["extension", found.extension]
        : ours !== null && found.has_send
          ? ["nexus", `nexus ${ours[1]}, pgmq API ${ours[2]}`]
          : found.has_send
            ? ["sql", null]
            : ["absent", null]
    return new Installation({ mode, version, extensionAvailable: found.available })
  })

/**
 * Makes pgmq available: creates the extension when the server offers it, else installs (or
 * updates) Nexus's compatible schema; an existing extension or another SQL-only install is left
 * as it is. Answers what the server has afterwards. Runs in the caller's transaction.
 *
 * @since 0.1.0
 * @category install
 */
export const install: Effect.Effect<Installation, SqlError.SqlError | Schema.SchemaError, SqlClient.SqlClient> =
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const before = yield* detect
    if (before.mode === "absent" && before.extensionAvailable !== null) {
      yield* sql`CREATE EXTENSION IF NOT EXISTS pgmq`
    } else if (before.mode === "absent" || before.mode === "nexus") {
      for (const statement of Install.statements) yield* sql.unsafe(statement).unprepared
    } else {
      return before
    }
    return yield* detect
  }).pipe(Effect.withSpan("PgmqInstall.install"))
