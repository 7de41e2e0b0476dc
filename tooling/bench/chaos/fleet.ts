// One scenario's world: a fresh scratch database (migrated by `nexus db migrate`, so its queues
// are new and empty), its own emulator with its accounts signed in through `nexus login
// --from-env`, the `nexus-worker`s it starts, and what the scenario expects of every message it
// sent (see tally.ts). `close` ends all of it.
import { TestDatabase } from "@nexus/testing"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Pool } from "pg"
import {
  compileCache,
  type EmulatorProcess,
  type Env,
  kill,
  nexus,
  startEmulator,
  startWorker,
  type WorkerProcess
} from "./processes.ts"
import { type Check, type Expectation, ok } from "./tally.ts"

export interface FleetOptions {
  /** Emulator accounts signed in (each with a budget that never runs out); 1 by default. */
  readonly accounts?: number
  /** Extra environment of the workers (e.g. NEXUS_QUEUE_MAX_BYTES). */
  readonly env?: Env
  /** Lines of a router policy (NEXUS_ROUTER_CONFIG), when the default one will not do. */
  readonly policy?: ReadonlyArray<string>
  /**
   * Commits wait for the disk (synchronous_commit on). Off by default: this VM's fsync would be
   * most of each round trip, and a worker killed or a connection cut loses nothing committed
   * either way; a server restart keeps it on (an immediate stop may drop async commits).
   */
  readonly durable?: boolean
}

export interface Fleet {
  /** The scratch database's name; the workers connect as application_name `appName`. */
  readonly database: string
  readonly appName: string
  readonly pool: Pool
  readonly emulator: EmulatorProcess
  /** The emulator ids of the signed-in accounts. */
  readonly accounts: ReadonlyArray<string>
  readonly expectation: Expectation
  /** The workers running (a restarted one in its predecessor's place). */
  readonly workers: Array<WorkerProcess>
  /** Every worker started, killed ones too, in order. */
  readonly started: Array<WorkerProcess>
  readonly startWorker: (args: ReadonlyArray<string>) => Promise<WorkerProcess>
  /** Replaces a worker (after a kill) with a fresh one started with `args`, in place. */
  readonly restartWorker: (index: number, args: ReadonlyArray<string>) => Promise<WorkerProcess>
  /** Puts raw bodies on llm_requests in one send_batch; answers their message ids. */
  readonly sendRaw: (bodies: ReadonlyArray<unknown>) => Promise<Array<string>>
  /** Sends `count` valid requests (batches of 500), each expected to get one result passing `check`. */
  readonly sendRequests: (count: number, check?: Check, extra?: Record<string, unknown>) => Promise<void>
  /** The emulator's admin API: POST (or another method) `path` with `body`; answers the JSON. */
  readonly admin: (path: string, body?: unknown, method?: string) => Promise<unknown>
  readonly close: () => Promise<void>
}

/** A valid request (contract version 1) asking for a one-line answer. */
export const request = (extra: Record<string, unknown> = {}) => ({
  version: 1,
  id: randomUUID(),
  task_type: "chat",
  complexity: "simple",
  messages: [{ role: "user", content: "Say hello to the chaos run, in one short line." }],
  ...extra
})

/** The `close` of every fleet not yet closed, so that an interrupted run can still close them. */
export const openFleets = new Set<() => Promise<void>>()

export const makeFleet = async (scenario: string, options: FleetOptions = {}): Promise<Fleet> => {
  const undo: Array<() => Promise<void> | void> = []
  const close = async () => {
    openFleets.delete(close)
    for (const step of undo.splice(0).toReversed()) await Promise.resolve(step()).catch(() => {})
  }
  openFleets.add(close)
  try {
    const database = await TestDatabase.createTestDatabase()
    undo.push(() => database.drop())
    const dataDir = mkdtempSync(join(tmpdir(), "nexus-chaos-"))
    undo.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const emulator = await startEmulator()
    undo.push(() => {
      emulator.child.kill("SIGKILL")
    })
    const admin = async (path: string, body?: unknown, method = "POST") => {
      const response = await fetch(`${emulator.urls.adminUrl}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`)
      return text === "" ? undefined : JSON.parse(text)
    }

    const appName = `nexus-chaos-${scenario}`
    const url = new URL(database.url)
    url.searchParams.set("application_name", appName)
    const env: Env = {
      PATH: process.env["PATH"] ?? "",
      HOME: dataDir,
      DATABASE_URL: url.href,
      CODEX_ISSUER: emulator.urls.issuer,
      CODEX_BASE_URL: emulator.urls.codexBaseUrl,
      NEXUS_TOKEN_KEY: randomBytes(32).toString("base64"),
      NEXUS_DATA_DIR: dataDir,
      NEXUS_TOKEN_FILE: join(dataDir, "tokens.json"),
      NODE_COMPILE_CACHE: compileCache,
      ...options.env
    }
    if (options.policy !== undefined) {
      const policy = join(dataDir, "routes.yaml")
      writeFileSync(policy, `${options.policy.join("\n")}\n`)
      env["NEXUS_ROUTER_CONFIG"] = policy
    }
    await nexus(env, "db", "migrate")

    // Each account: added to the emulator with a budget that never runs out, its tokens minted
    // by the admin API and handed to `nexus login --from-env` (they never reach stdout).
    const accounts: Array<string> = []
    for (let index = 0; index < (options.accounts ?? 1); index++) {
      const label = `chaos-${index + 1}`
      const account = (await admin("/accounts", {
        email: `${label}@example.com`,
        plan: "pro",
        budget: { primary: 1e12, secondary: 1e12 }
      })) as { id: string }
      const tokens = (await admin(`/accounts/${account.id}/tokens`)) as { access_token: string; refresh_token: string }
      await nexus(
        {
          ...env,
          CODEX_ACCESS_TOKEN: tokens.access_token,
          CODEX_REFRESH_TOKEN: tokens.refresh_token,
          CODEX_ACCOUNT_ID: account.id
        },
        "login",
        "--from-env",
        "--label",
        label
      )
      accounts.push(account.id)
    }

    const pool = new Pool({ connectionString: database.url, max: 4 })
    // A restarted server or a terminated backend cuts idle connections: the pool drops them.
    pool.on("error", () => {})
    undo.push(() => pool.end())
    if (options.durable !== true) await pool.query(`ALTER DATABASE "${database.name}" SET synchronous_commit = off`)

    const workers: Array<WorkerProcess> = []
    const started: Array<WorkerProcess> = []
    undo.push(() => Promise.all(started.map(kill)).then(() => {}))
    let closed = false
    undo.push(() => {
      closed = true
    })
    /** Starts a worker, unless the fleet is closing (a scenario that timed out may still try). */
    const launch = async (args: ReadonlyArray<string>) => {
      if (closed) throw new Error("the fleet is closed")
      const worker = await startWorker(env, args)
      started.push(worker)
      if (closed) await kill(worker)
      return worker
    }
    const expectation: Expectation = { results: new Map(), deadLetters: new Map(), sent: 0 }
    const sendRaw = async (bodies: ReadonlyArray<unknown>) => {
      const { rows } = await pool.query<{ id: string }>("SELECT pgmq.send_batch('llm_requests', $1::jsonb[]) AS id", [
        bodies.map((body) => JSON.stringify(body))
      ])
      expectation.sent += bodies.length
      return rows.map((row) => row.id)
    }
    return {
      database: database.name,
      appName,
      pool,
      emulator,
      accounts,
      expectation,
      workers,
      started,
      startWorker: async (args) => {
        const worker = await launch(args)
        workers.push(worker)
        return worker
      },
      restartWorker: async (index, args) => {
        await kill(workers[index]!)
        const worker = await launch(args)
        workers[index] = worker
        return worker
      },
      sendRaw,
      sendRequests: async (count, check = ok, extra = {}) => {
        for (let sent = 0; sent < count; sent += 500) {
          const batch = Array.from({ length: Math.min(500, count - sent) }, () => request(extra))
          for (const body of batch) expectation.results.set(body.id, check)
          await sendRaw(batch)
        }
      },
      admin,
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}
