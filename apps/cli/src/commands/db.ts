/**
 * `nexus db migrate`: creates or updates every package's tables in one run (idempotent), then pgmq
 * and the LLM queues on the queue database; `nexus db pgmq-sql`: Nexus's pgmq-compatible install
 * as one SQL script, for a DBA to run with psql; `nexus db start|stop|status|url`: the embedded
 * PostgreSQL server of the data dir (the database when DATABASE_URL is not set).
 *
 * @since 0.1.0
 */
import { Database, Embedded, Migrations } from "@nexus/database"
import { Migrations as QueueMigrations, Pgmq, PgmqInstall } from "@nexus/queue-pgmq"
import { Config, Console, Effect, Option, Redacted } from "effect"
import { Command } from "effect/cli"
import { ago } from "../internal/format.ts"
import * as Flags from "../internal/flags.ts"
import { SqlClient } from "effect/sql"
import { migrations, QueueLive } from "../Services.ts"

const where = (at: Database.Target) => `database ${at.database} at ${at.host}:${at.port}`

const migrate = Command.make(
  "migrate",
  { json: Flags.json("the migrations applied and pgmq's installation") },
  Effect.fn("nexus.db.migrate")(function* ({ json }) {
    const at = yield* Database.Database
    const queues = yield* Database.QueueDatabase
    const applied = [
      ...(yield* Migrations.run(migrations)),
      // pgmq and the queues live on the queue database (the same one unless SHARED_QUEUE_DB_URL).
      ...(yield* Migrations.run([QueueMigrations.migrations]).pipe(
        Effect.provideService(SqlClient.SqlClient, queues.sql),
        Effect.provideService(Database.Database, queues.target)
      ))
    ]
    if (json) {
      const pgmq = yield* Pgmq.Pgmq
      return yield* Console.log(
        JSON.stringify(
          {
            applied: applied.map((migration) => ({
              id: migration.id,
              name: migration.name,
              package: migration.package
            })),
            pgmq: (yield* pgmq.installation).description
          },
          null,
          2
        )
      )
    }
    for (const migration of applied) {
      yield* Console.log(
        `Applied migration ${String(migration.id).padStart(4, "0")}_${migration.name} (${migration.package})`
      )
    }
    const targets = queues.shared ? where(at) : `${where(at)} and the queue ${where(queues.target)}`
    yield* Console.log(
      applied.length === 0
        ? `The ${targets} are up to date: no migrations to apply.`
        : `The ${targets} are up to date (${applied.length} applied).`
    )
    const pgmq = yield* Pgmq.Pgmq
    yield* Console.log(`pgmq: ${(yield* pgmq.installation).description}`)
  })
).pipe(
  Command.withDescription(
    "Create or update the Nexus tables of every package, pgmq and the LLM queues (safe to run any number of times)"
  ),
  Command.withExamples([
    { command: "nexus db migrate", description: "Create or update the tables and queues" },
    {
      command: "DATABASE_URL=postgres://postgres@db.internal:5432/nexus nexus db migrate",
      description: "Migrate a shared PostgreSQL server"
    },
    { command: "nexus db migrate --json", description: "Print the migrations applied as JSON" }
  ]),
  Command.provide(QueueLive)
)

const pgmqSql = Command.make(
  "pgmq-sql",
  {},
  Effect.fn("nexus.db.pgmqSql")(function* () {
    yield* Console.log(PgmqInstall.script)
  })
).pipe(
  Command.withDescription(
    "Print Nexus's pgmq-compatible install as one idempotent SQL script (for psql -f, on servers without the pgmq extension)"
  ),
  Command.withExamples([
    { command: "nexus db pgmq-sql > pgmq.sql", description: "Save the install script" },
    { command: 'nexus db pgmq-sql | psql "$DATABASE_URL"', description: "Install pgmq on a server with psql" }
  ])
)

const server = Effect.map(Embedded.dataDir, Embedded.EmbeddedPostgres.make)

/** A note when a configured database makes the embedded one unused. */
const configuredElsewhere = Config.option(Config.String("DATABASE_URL")).pipe(
  Effect.orElseSucceed(() => Option.none<string>()),
  Effect.map((url) =>
    Option.isSome(url) && url.value.trim() !== ""
      ? "DATABASE_URL is set: Nexus uses that server, not this embedded one."
      : undefined
  )
)

const describe = (status: Embedded.Status) => {
  const now = Date.now()
  const lines = [
    status.state === "running"
      ? `The embedded PostgreSQL ${status.version ?? ""} is running on 127.0.0.1:${status.port} (pid ${status.pid}, started ${ago(status.startedAt!.getTime(), now)}).`
      : status.state === "starting"
        ? `The embedded PostgreSQL is starting or stopping (pid ${status.pid}).`
        : status.state === "stopped"
          ? `The embedded PostgreSQL ${status.version ?? ""} is stopped; any nexus command that needs it starts it (or \`nexus db start\`).`
          : "The embedded PostgreSQL has not been created yet; the first nexus command that needs it creates and starts it (or `nexus db start`).",
    `  data: ${status.dataDir}`,
    `  cluster: ${status.cluster}`,
    `  log: ${status.log}`
  ]
  return lines.join("\n").replace(/PostgreSQL  /g, "PostgreSQL ")
}

const statusJson = (status: Embedded.Status, extra: Record<string, unknown> = {}) =>
  JSON.stringify(
    {
      state: status.state,
      version: status.version ?? null,
      pid: status.pid ?? null,
      port: status.port ?? null,
      started_at: status.startedAt?.toISOString() ?? null,
      data_dir: status.dataDir,
      cluster: status.cluster,
      log: status.log,
      ...extra
    },
    null,
    2
  )

const start = Command.make(
  "start",
  { json: Flags.json("the server's state") },
  Effect.fn("nexus.db.start")(function* ({ json }) {
    const embedded = yield* server
    const started = yield* embedded.start
    const status = yield* embedded.status
    if (json) return yield* Console.log(statusJson(status, { started: started.started }))
    yield* Console.log(
      started.started
        ? `Started the embedded PostgreSQL on 127.0.0.1:${started.port} (pid ${started.pid}); data in ${embedded.dataDir}. It runs until \`nexus db stop\`.`
        : `The embedded PostgreSQL was already running on 127.0.0.1:${started.port} (pid ${started.pid}).`
    )
    const note = yield* configuredElsewhere
    if (note !== undefined) yield* Console.error(note)
  })
).pipe(
  Command.withDescription(
    "Start the embedded PostgreSQL of the data dir (creating it on first use); it runs until `nexus db stop`"
  ),
  Command.withExamples([
    { command: "nexus db start", description: "Start the embedded PostgreSQL" },
    { command: "nexus db start --json", description: "Start it, print its state as JSON" }
  ])
)

const stop = Command.make(
  "stop",
  { json: Flags.json("whether it was running") },
  Effect.fn("nexus.db.stop")(function* ({ json }) {
    const embedded = yield* server
    const stopped = yield* embedded.stop
    if (json) return yield* Console.log(JSON.stringify({ stopped, data_dir: embedded.dataDir }, null, 2))
    yield* Console.log(
      stopped
        ? `Stopped the embedded PostgreSQL (data in ${embedded.dataDir}, kept for its next start).`
        : "The embedded PostgreSQL was not running."
    )
  })
).pipe(
  Command.withDescription("Stop the embedded PostgreSQL (its data is kept); workers using it lose their connections"),
  Command.withExamples([
    { command: "nexus db stop", description: "Stop the embedded PostgreSQL" },
    { command: "nexus db stop --json", description: "Stop it, print whether it was running as JSON" }
  ])
)

const status = Command.make(
  "status",
  { json: Flags.json("the server's state") },
  Effect.fn("nexus.db.status")(function* ({ json }) {
    const current = yield* (yield* server).status
    const note = yield* configuredElsewhere
    if (json) return yield* Console.log(statusJson(current, { database_url_set: note !== undefined }))
    yield* Console.log(describe(current))
    if (note !== undefined) yield* Console.log(note)
  })
).pipe(
  Command.withDescription("Show the embedded PostgreSQL's state, port and where its data and log are"),
  Command.withExamples([
    { command: "nexus db status", description: "See whether the embedded PostgreSQL runs, and on which port" },
    { command: "nexus db status --json", description: "The same, as JSON" }
  ])
)

const url = Command.make(
  "url",
  {},
  Effect.fn("nexus.db.url")(function* () {
    const note = yield* configuredElsewhere
    if (note !== undefined) yield* Console.error(note)
    yield* Console.log(Redacted.value(yield* (yield* server).url))
  })
).pipe(
  Command.withDescription(
    "Print the embedded PostgreSQL's URL, password included, for psql or any Postgres client (starts it when stopped)"
  ),
  Command.withExamples([
    { command: 'psql "$(nexus db url)"', description: "Open psql on the embedded database" },
    { command: 'DATABASE_URL="$(nexus db url)" ./my-service', description: "Point another program at it" }
  ])
)

/**
 * `nexus db`: the database commands.
 *
 * @since 0.1.0
 * @category commands
 */
export const db = Command.make("db").pipe(
  Command.withDescription("Manage the Nexus PostgreSQL database"),
  Command.withExamples([
    { command: "nexus db migrate", description: "Create or update the tables and queues" },
    { command: "nexus db status", description: "See the embedded PostgreSQL's state" },
    { command: 'psql "$(nexus db url)"', description: "Open psql on the embedded database" }
  ]),
  Command.withSubcommands([migrate, start, stop, status, url, pgmqSql])
)
