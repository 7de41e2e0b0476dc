// `nexus-worker` end to end (enqueue → result, real child processes, the emulator in its own
// process), side by side in one run with the raw pgmq round trip it is built on:
//   1. zero upstream latency: requests/s through one worker (--concurrency, 16) beside send + read +
//      archive on bare `pg` at the same concurrency, alternating in rounds (goal ≥ 0.5×);
//   2. 1 s upstream latency, concurrency 256 over 2 workers: requests/s beside the 256/s that
//      Little's law allows (goal ≥ 0.9);
//   3. one worker's RSS with 1,000 streams in flight (goal ≤ 200 MB).
// The workers run as `nexus-worker` ships: the bundle (`pnpm build`, rebuilt here when a source is newer), with V8's
// default young generation up to concurrency 64 and 2 MB semi-spaces above;
// BENCH_WORKER_NODE_OPTIONS (e.g. --max-semi-space-size=2) overrides. --sources runs
// apps/worker/src/bin.ts instead (Node loading the TypeScript module by module), to compare.
// Commits do not wait for the disk (synchronous_commit off on the scratch database) unless
// --durable: this VM's fsync would otherwise be most of each round trip on both sides.
//   node tooling/bench/worker.ts [--rounds 3] [--requests 2000] [--concurrency 16] [--parts 1,2,3] [--durable] [--sources] [--profile DIR] [--quick] [--json FILE]
import { TestDatabase } from "@nexus/testing"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Pool } from "pg"
import { benchArgs } from "./args.ts"
import { bundle, freshBundles, root } from "./bundles.ts"
import { emulatorAccount, startServer } from "./children.ts"
import { makeReport } from "./report.ts"

const values = benchArgs(
  {
    rounds: { type: "string", default: "3" },
    requests: { type: "string", default: "2000" },
    durable: { type: "boolean", default: false },
    /** Requests in flight on each side of part 1 (the worker's concurrency, the raw side's loops). */
    concurrency: { type: "string", default: "16" },
    /** Which parts to run: 1 (zero latency), 2 (1 s latency), 3 (RSS); all by default. */
    parts: { type: "string", default: "1,2,3" },
    /** Waves of 256 requests in part 2 (each takes a second or more). */
    waves: { type: "string", default: "10" },
    /** Seconds of each raw pgmq round of part 1. */
    "raw-seconds": { type: "string", default: "4" },
    /** Runs the worker from its TypeScript sources instead of the bundle. */
    sources: { type: "boolean", default: false },
    /** Writes a V8 CPU profile of each worker into this directory (node --cpu-prof). */
    profile: { type: "string" }
  },
  { rounds: "1", requests: "400", waves: "2", "raw-seconds": "1" }
)
const report = makeReport("worker", values)
const rounds = Math.max(1, Number(values.rounds))
const requests = Math.max(100, Number(values.requests))
const parts = new Set(values.parts.split(",").map((part) => part.trim()))
const sideConcurrency = Math.max(1, Number(values.concurrency))

// The bundles, rebuilt first when a source is newer (the sources are compared with --sources).
freshBundles()
const workerBin = values.sources ? join(root, "apps/worker/src/bin.ts") : bundle("worker")
const cliBin = values.sources ? join(root, "apps/cli/src/bin.ts") : bundle("cli")
console.log(`nexus-worker: ${values.sources ? "from its sources (--sources)" : "the bundle, as it ships"}`)
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The CPU fields of /proc/PID/stat: utime, stime, cutime, cstime (clock ticks of 10 ms). */
const cpuFields = (pid: number) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /, "")
      .split(" ")
    return [11, 12, 13, 14].map((index) => Number(fields[index]))
  } catch {
    return [0, 0, 0, 0] // gone since
  }
}

/**
 * The parent of a PostgreSQL backend of this machine: its postmaster (0 when no process of that
 * pid here is a postgres one — a server elsewhere, whose pid may name an unrelated local process).
 */
const parentOf = (pid: number) => {
  try {
    if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres") return 0
    return Number(
      readFileSync(`/proc/${pid}/stat`, "utf8")
        .replace(/^.*\) /, "")
        .split(" ")[1]
    )
  } catch {
    return 0
  }
}

/** CPU milliseconds (user + system) the processes have used so far. */
const cpuMs = (pids: ReadonlyArray<number>) =>
  pids.reduce((sum, pid) => {
    const [user, system] = cpuFields(pid)
    return sum + (user! + system!) * 10
  }, 0)

/**
 * CPU milliseconds the PostgreSQL server whose postmaster is `postmaster` has used so far: its live
 * processes, and through the postmaster's children's counts the backends that exited since. (Zero
 * for a server on another machine.)
 */
const postgresMs = (postmaster: number) => {
  if (postmaster === 0) return 0
  const children = execFileSync("pgrep", ["-P", String(postmaster)], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
  const [, , exited, exitedSystem] = cpuFields(postmaster)
  return cpuMs([postmaster, ...children.map(Number)]) + (exited! + exitedSystem!) * 10
}

const call = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init)
  if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${response.status} ${await response.text()}`)
  return response
}
const post = (url: string, body?: unknown) =>
  call(url, {
    method: "POST",
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  })

// --- The database, the emulator, one signed-in account ----------------------------------------
const database = await TestDatabase.createTestDatabase()
const dataDir = mkdtempSync(join(tmpdir(), "nexus-bench-worker-"))
const emulator = await startServer(["packages/codex-emulator/src/bin.ts", "--port", "0"])
const urls = emulator.info as { issuer: string; codexBaseUrl: string; adminUrl: string }
const children: Array<ChildProcess> = [emulator.child]
const cleanUp = async () => {
  for (const child of children) child.kill("SIGKILL")
  rmSync(dataDir, { recursive: true, force: true })
  await database.drop()
}
// Stopped (./dev bench passes on a Ctrl+C as SIGTERM): the scratch database and directory go too.
process.once("SIGTERM", () => void cleanUp().finally(() => process.exit(143)))

try {
  const account = await emulatorAccount(urls.adminUrl, "bench@example.com")
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    HOME: process.env["HOME"] ?? dataDir,
    DATABASE_URL: database.url,
    CODEX_ISSUER: urls.issuer,
    CODEX_BASE_URL: urls.codexBaseUrl,
    NEXUS_TOKEN_KEY: randomBytes(32).toString("base64"),
    NEXUS_DATA_DIR: dataDir,
    NEXUS_TOKEN_FILE: join(dataDir, "tokens.json"),
    NEXUS_LOG_LEVEL: "warn"
  }
  const nexus = (...args: Array<string>) =>
    execFileSync(process.execPath, [cliBin, ...args], {
      env: { ...env, ...account.loginEnv },
      stdio: ["ignore", "ignore", "inherit"]
    })
  nexus("db", "migrate")
  nexus("login", "--from-env", "--label", "bench")

  const pool = new Pool({ connectionString: database.url, max: 20 })
  // Dropping the database at the end ends the idle connections: not an error of the bench.
  pool.on("error", () => {})
  if (!values.durable) await pool.query(`ALTER DATABASE "${database.name}" SET synchronous_commit = off`)
  await pool.query("SELECT pgmq.create('bench_raw')")
  // The server's postmaster: the parent of a backend (this machine's /proc; 0 for a server elsewhere).
  const backend = (await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid
  const postmaster = parentOf(backend)

  const startWorker = async (concurrency: number) => {
    const child = spawn(process.execPath, [workerBin, "--port", "0", "--concurrency", String(concurrency)], {
      env: {
        ...env,
        NEXUS_LOG_LEVEL: "info",
        ...(process.env["BENCH_WORKER_NODE_OPTIONS"] === undefined
          ? {}
          : { NODE_OPTIONS: process.env["BENCH_WORKER_NODE_OPTIONS"] }),
        ...(values.profile === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values.profile}` })
      },
      stdio: ["ignore", "ignore", "pipe"]
    })
    children.push(child)
    let log = ""
    await new Promise<void>((resolve, reject) => {
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        log += chunk
        if (log.includes("worker started")) resolve()
      })
      child.once("exit", (code) => reject(new Error(`nexus-worker exited with ${code}:\n${log}`)))
    })
    const port = Number(/probes listening.*?:(\d+)/.exec(log)![1])
    return { child, port }
  }
  const stop = async (worker: { readonly child: ChildProcess }) => {
    const exited = new Promise((resolve) => worker.child.once("exit", resolve))
    worker.child.kill("SIGTERM")
    await exited
  }

  const request = () => ({
    version: 1,
    id: randomUUID(),
    task_type: "chat",
    complexity: "simple",
    model: "gpt-6-luna",
    messages: [{ role: "user", content: "Say hello to the benchmark, in one short line." }]
  })

  const lastResultId = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM pgmq.q_llm_results_msg_id_seq"

  /**
   * Sends `count` requests (batches of 500) and waits until every result is on llm_results;
   * answers requests/s over the whole run, and from the first result to the last (the steady rate).
   */
  const endToEnd = async (count: number) => {
    await pool.query("SELECT pgmq.purge_queue('llm_results')")
    // The results' id sequence counts them at no cost (a count(*) would cost the server more
    // than some of what is measured).
    const resultsSoFar = async () => Number((await pool.query<{ n: string }>(lastResultId)).rows[0]!.n)
    const start = await resultsSoFar()
    const began = performance.now()
    for (let sent = 0; sent < count; sent += 500) {
      const batch = Array.from({ length: Math.min(500, count - sent) }, () => JSON.stringify(request()))
      await pool.query("SELECT pgmq.send_batch('llm_requests', $1::jsonb[])", [batch])
    }
    /** (ms since the start, results so far), from the first result on: the steady rate's samples. */
    const samples: Array<readonly [number, number]> = []
    while (true) {
      const done = (await resultsSoFar()) - start
      if (done > 0) samples.push([performance.now() - began, done])
      if (done >= count) break
      await sleep(10)
    }
    const [firstAt, firstDone] = samples[0]!
    const [lastAt] = samples.at(-1)!
    return {
      rate: count / ((performance.now() - began) / 1000),
      steady: lastAt > firstAt ? (count - firstDone) / ((lastAt - firstAt) / 1000) : Number.NaN
    }
  }

  /** `concurrency` loops of send → read → archive on bare pg for `seconds`; answers round trips/s. */
  const rawRoundTrips = async (concurrency: number, seconds: number) => {
    const body = JSON.stringify(request())
    const deadline = performance.now() + seconds * 1000
    let done = 0
    const loop = async () => {
      while (performance.now() < deadline) {
        await pool.query("SELECT pgmq.send('bench_raw', $1::jsonb)", [body])
        const { rows } = await pool.query<{ msg_id: string }>("SELECT msg_id FROM pgmq.read('bench_raw', 30, 1)")
        if (rows[0] !== undefined) await pool.query("SELECT pgmq.archive('bench_raw', $1::bigint)", [rows[0].msg_id])
        done++
      }
    }
    const began = performance.now()
    await Promise.all(Array.from({ length: concurrency }, loop))
    return done / ((performance.now() - began) / 1000)
  }

  // --- 1. Zero latency: one worker beside the raw round trip, at the same concurrency -----------
  if (parts.has("1")) {
    const one = await startWorker(sideConcurrency)
    await endToEnd(values.quick ? 200 : 1000) // warm-up: connections, JIT, the catalog
    const e2e: Array<number> = []
    const raw: Array<number> = []
    const split = { worker: 0, emulator: 0, postgres: 0, bench: 0, transactions: 0 }
    /** Transactions the server counted on the database (backends report them at most once a second). */
    const transactions = async () => {
      await sleep(1500)
      const { rows } = await pool.query<{ n: string }>(
        "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()"
      )
      return Number(rows[0]!.n)
    }
    for (let round = 0; round < rounds; round++) {
      const [first, second] = round % 2 === 0 ? ["e2e", "raw"] : ["raw", "e2e"]
      for (const side of [first, second]) {
        if (side === "e2e") {
          // Counting transactions waits 3 s for the server's statistics: not in a quick run.
          const committed = values.quick ? 0 : await transactions()
          const before = [
            cpuMs([one.child.pid!]),
            cpuMs([emulator.child.pid!]),
            postgresMs(postmaster),
            cpuMs([process.pid])
          ]
          e2e.push((await endToEnd(requests)).rate)
          const after = [
            cpuMs([one.child.pid!]),
            cpuMs([emulator.child.pid!]),
            postgresMs(postmaster),
            cpuMs([process.pid])
          ]
          split.worker += (after[0]! - before[0]!) / requests / rounds
          split.emulator += (after[1]! - before[1]!) / requests / rounds
          split.postgres += (after[2]! - before[2]!) / requests / rounds
          split.bench += (after[3]! - before[3]!) / requests / rounds
          if (!values.quick) split.transactions += ((await transactions()) - committed) / requests / rounds
        } else raw.push(await rawRoundTrips(sideConcurrency, Number(values["raw-seconds"])))
      }
      console.log(
        `round ${round + 1}: end to end ${e2e.at(-1)!.toFixed(0)} requests/s, raw pgmq send + read + archive ${raw.at(-1)!.toFixed(0)} round trips/s`
      )
    }
    await stop(one)
    console.log(
      `CPU per request end to end: worker ${split.worker.toFixed(2)} ms, emulator ${split.emulator.toFixed(2)} ms, PostgreSQL ${split.postgres.toFixed(2)} ms, this process (the agent) ${split.bench.toFixed(2)} ms${values.quick ? "" : `; ${split.transactions.toFixed(2)} database transactions per request (the agent's polling included)`}`
    )
    const ratio = median(e2e) / median(raw)
    report.ratio(
      `end to end at zero upstream latency, concurrency ${sideConcurrency}`,
      "requests/s",
      median(e2e),
      { name: "raw pgmq send + read + archive (bare pg)", value: median(raw) },
      { text: "≥ 0.5× raw", min: 0.5 }
    )
    console.log(
      `zero latency, concurrency ${sideConcurrency}: end to end ${median(e2e).toFixed(0)} requests/s, raw pgmq ${median(raw).toFixed(0)} round trips/s (medians of ${rounds}): ${ratio.toFixed(2)}× (goal ≥ 0.5×: ${ratio >= 0.5 ? "met" : "NOT met"})`
    )
  }

  // --- 2. 1 s upstream latency, concurrency 256 over 2 workers --------------------------------
  if (parts.has("2")) {
    await post(`${urls.adminUrl}/faults`, { kind: "slow_first_byte", delayMs: 1000, probability: 1 })
    const pair = [await startWorker(128), await startWorker(128)]
    const slowCount = 256 * Math.max(2, Number(values.waves))
    // A wave to warm up first (connections to the emulator and the database, the JIT): a worker
    // runs for days, its first second is not its steady state. (Not in a quick run: its figure is
    // a little low for it.)
    if (!values.quick) await endToEnd(256)
    const slow = await endToEnd(slowCount)
    for (const worker of pair) await stop(worker)
    // From the first send to the last result: N requests, 256 at a time, 1 s each, take N/256
    // seconds at best, whatever the waves look like. (From the first result to the last would count
    // N requests over one wave fewer than they took: 10 waves would read 1.11× too fast.)
    const little = slow.rate / 256
    report.ratio(
      "end to end at 1 s upstream latency, concurrency 256 over 2 workers",
      "requests/s",
      slow.rate,
      { name: "Little's law (256 in flight ÷ 1 s)", value: 256 },
      { text: "≥ 0.9× Little's law", min: 0.9 }
    )
    console.log(
      `1 s upstream latency, concurrency 256 over 2 workers, ${slowCount} requests: ${slow.rate.toFixed(0)} requests/s from the first send to the last result (${slow.steady.toFixed(0)}/s from the first result to the last), ${little.toFixed(2)} of the 256/s Little's law allows (goal ≥ 0.9: ${little >= 0.9 ? "met" : "NOT met"})`
    )
    await call(`${urls.adminUrl}/faults`, { method: "DELETE" })
  }

  // --- 3. RSS with 1,000 streams in flight -----------------------------------------------------
  if (parts.has("3")) {
    await post(`${urls.adminUrl}/faults`, { kind: "slow_first_byte", delayMs: 60_000, probability: 1 })
    await pool.query("SELECT pgmq.purge_queue('llm_requests')")
    const big = await startWorker(1000)
    const turnsBefore =
      (
        (await (await call(`${urls.adminUrl}/counters`)).json()) as {
          requests: Record<string, { total: number }>
        }
      ).requests["responses"]?.total ?? 0
    const rssOf = (pid: number) => {
      const status = readFileSync(`/proc/${pid}/status`, "utf8")
      return {
        rss: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024,
        peak: Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024
      }
    }
    await sleep(values.quick ? 500 : 1000)
    const idle = rssOf(big.child.pid!)
    const idleMetrics = await (await call(`http://127.0.0.1:${big.port}/metrics`)).text()
    const idleHeap = /^nodejs_heap_used_bytes (\S+)/m.exec(idleMetrics)?.[1]
    const batch = Array.from({ length: 1000 }, () => JSON.stringify(request()))
    await pool.query("SELECT pgmq.send_batch('llm_requests', $1::jsonb[])", [batch])
    let upstream = 0
    for (let waited = 0; waited < 60_000 && upstream < 1000; waited += 100) {
      await sleep(100)
      const counters = (await (await call(`${urls.adminUrl}/counters`)).json()) as {
        requests: Record<string, { total: number }>
      }
      upstream = (counters.requests["responses"]?.total ?? 0) - turnsBefore
    }
    await sleep(values.quick ? 500 : 1000)
    const { rss, peak } = rssOf(big.child.pid!)
    const metrics = await (await call(`http://127.0.0.1:${big.port}/metrics`)).text()
    const inFlight = /^nexus_worker_in_flight (\d+)/m.exec(metrics)?.[1]
    const gauge = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)`, "m").exec(metrics)?.[1] ?? Number.NaN) / 1048576
    console.log(
      `  (V8 heap in use ${gauge("nodejs_heap_used_bytes").toFixed(0)} MB, ${(Number(idleHeap) / 1048576).toFixed(0)} MB idle, outside the heap ${gauge("nodejs_external_memory_bytes").toFixed(0)} MB)`
    )
    console.log(
      `1,000 streams: ${inFlight} requests in flight in the worker, ${upstream} turns open upstream; worker RSS ${rss.toFixed(0)} MB (peak ${peak.toFixed(0)} MB; ${idle.rss.toFixed(0)} MB idle before them) (goal ≤ 200 MB with all 1,000 open: ${rss <= 200 && upstream >= 1000 && Number(inFlight) >= 1000 ? "met" : "NOT met"})`
    )
    report.add({
      figure: "worker RSS with 1,000 streams in flight",
      value: rss,
      unit: "MB",
      baseline: { name: "the same worker idle, before them", value: idle.rss },
      ratio: rss / idle.rss,
      goal: "≤ 200 MB, 1,000 streams open",
      // Fewer streams than asked (the wait above gives up after 60 s) would make a low RSS mean nothing.
      met: rss <= 200 && upstream >= 1000 && Number(inFlight) >= 1000
    })
    big.child.kill("SIGKILL")
  }
  report.write()
  await pool.end()
} finally {
  await cleanUp()
}
