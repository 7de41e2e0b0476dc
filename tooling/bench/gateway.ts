// `nexus serve` (the OpenAI-compatible gateway, as the CLI bundle ships it) beside a bare node:http
// proxy, side by side in one run: streamed `POST /v1/chat/completions` against the same upstream,
// a server that replays one recorded Codex reply (the emulator's, recorded at the start; the
// sign-in and its tokens come from the emulator itself). The proxy pipes that reply back as it is:
// one HTTP hop with no logic, what any front costs. The gateway verifies its key, routes, streams
// upstream through the Codex client and renders chat completion chunks. (The replay server answers
// every path with that reply: the gateway never asks it for /models, its catalog is the bundled one.)
//   1. concurrency 1: latency to the last byte, p50 and p95 (and to the first), the sides taking
//      turns of 20 requests (a 2-core VM's latency drifts by milliseconds from one second to the
//      next: long blocks of one side, then of the other, would compare two moments; single
//      requests in turn would wake every process from idle each time); the goal: ≤ 1 ms added at p50;
//   2. concurrency --concurrency (32): requests/s, the sides alternating in rounds of equal length
//      so that the machine's noise falls on both; the goal: ≥ 0.5× the proxy. Also the CPU each
//      process spends per request, and (not in a quick run) the database transactions the gateway
//      makes per request (its usage records).
// The client (a keep-alive node:http agent per side) runs in this process, the gateway, the proxy
// and the replay server in their own: on a 2-core machine they share the cores on both sides alike.
//   node tooling/bench/gateway.ts [--requests 3000] [--seconds 12] [--rounds 4] [--concurrency 32] [--words 60] [--profile DIR] [--against DIR] [--quick] [--json FILE]
// (requests and seconds are per side; the seconds split over the rounds). --profile writes a V8
// CPU profile of `nexus serve` into DIR (node --cpu-prof). --against DIR adds the `nexus serve` of
// another checkout (built there: `git worktree add /tmp/before <commit>`, `./dev setup`, `pnpm
// build` in it) as a third side, on the same database, upstream and key, taking turns with the
// others: before/after figures of a change from one run, not two that the machine's drift sets apart.
import { TestDatabase } from "@nexus/testing"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { Client } from "pg"
import { benchArgs } from "./args.ts"
import { bundle, freshBundles } from "./bundles.ts"
import { emulatorAccount, startServer } from "./children.ts"
import { type BenchDatabase, openDatabase } from "./database.ts"
import { makeReport } from "./report.ts"

const values = benchArgs(
  {
    /** Sequential requests per side (concurrency 1). */
    requests: { type: "string", default: "3000" },
    /** Seconds per side at --concurrency, split over the rounds. */
    seconds: { type: "string", default: "12" },
    rounds: { type: "string", default: "4" },
    concurrency: { type: "string", default: "32" },
    /** Words of the reply: one output_text.delta upstream, one chunk from the gateway, each. */
    words: { type: "string", default: "60" },
    /** Writes a V8 CPU profile of `nexus serve` into this directory (node --cpu-prof). */
    profile: { type: "string" },
    /** Another checkout, whose `nexus serve` runs as a third side ("before"). */
    against: { type: "string" }
  },
  { requests: "300", seconds: "1.5", rounds: "2" }
)
const report = makeReport("gateway", values)
const rounds = Math.max(1, Number(values.rounds))
const sequential = Math.max(1, Number(values.requests))
/** Sequential requests a side makes in its turn (a few ms each: both sides see the machine alike). */
const BLOCK = 20
const seconds = Number(values.seconds)
const concurrency = Math.max(1, Number(values.concurrency))
const words = Math.max(1, Number(values.words))

freshBundles()
const cliBin = bundle("cli")

/** The proxy, run with `node -e`: the least an HTTP front can do (`argv[1]`: the upstream's URL). */
const PROXY = `
const http = require("node:http")
const upstream = new URL(process.argv[1] + "/backend-api/codex/responses")
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
const server = http.createServer((request, response) => {
  const forward = http.request(upstream, { method: "POST", agent, headers: { "content-type": "application/json", accept: "text/event-stream" } }, (reply) => {
    response.writeHead(reply.statusCode, { "content-type": reply.headers["content-type"], "cache-control": "no-cache" })
    reply.pipe(response)
  })
  forward.on("error", (error) => response.destroy(error))
  request.pipe(forward)
})
server.keepAliveTimeout = 5000
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ url: "http://127.0.0.1:" + server.address().port })))
process.on("SIGTERM", () => process.exit(0))
`

const run = promisify(execFile)

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** CPU milliseconds (user + system) a process has used so far (clock ticks of 10 ms; 0 once gone). */
const cpuMs = (pid: number) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /, "")
      .split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

const post = async (url: string, body?: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`)
  return response
}

// --- What the run starts, and its end however it ends ------------------------------------------
let database: BenchDatabase | undefined
let scratch: Awaited<ReturnType<typeof TestDatabase.createTestDatabase>> | undefined
const dataDir = mkdtempSync(Path.join(tmpdir(), "nexus-bench-gateway-"))
const children: Array<ChildProcess> = []
/** The `nexus serve`s: stopped with SIGTERM first (a CPU profile is written as it exits). */
const serves: Array<ChildProcess> = []
let cleaning: Promise<void> | undefined
const cleanUp = () =>
  (cleaning ??= (async () => {
    await Promise.all(
      serves
        .filter((serve) => serve.exitCode === null && serve.signalCode === null)
        .map((serve) => {
          const exited = new Promise((resolve) => serve.once("exit", resolve))
          serve.kill("SIGTERM")
          return Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())])
        })
    )
    for (const child of [...children, ...serves]) child.kill("SIGKILL")
    rmSync(dataDir, { recursive: true, force: true })
    await scratch?.drop().catch(() => {})
    await database?.close()
  })())
// Stopped (./dev bench passes on a Ctrl+C as SIGTERM): the children, the scratch database and
// directory go too.
process.once("SIGTERM", () => void cleanUp().finally(() => process.exit(143)))
process.once("SIGINT", () => void cleanUp().finally(() => process.exit(130)))

try {
  // --- The database, the emulator, the recording, the replay server and the proxy -------------
  database = await openDatabase()
  const { url: databaseUrl } = (scratch = await TestDatabase.createTestDatabase())
  // The setup's steps that do not wait for each other run together: a quick run stays short.
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    HOME: dataDir,
    DATABASE_URL: databaseUrl,
    NEXUS_TOKEN_KEY: randomBytes(32).toString("base64"),
    NEXUS_DATA_DIR: dataDir,
    NEXUS_TOKEN_FILE: Path.join(dataDir, "tokens.json"),
    NEXUS_LOG_LEVEL: "warn",
    NO_COLOR: "1"
  }
  /** `nexus args…` from the bundle, to its end; answers its stdout. */
  const nexus = async (extra: Record<string, string>, ...args: Array<string>) =>
    (await run(process.execPath, [cliBin, ...args], { env: { ...env, ...extra }, encoding: "utf8" })).stdout
  const [emulator] = await Promise.all([
    startServer(["packages/codex-emulator/src/bin.ts", "--port", "0", "--token-lifetime", "86400"]).then((started) => {
      children.push(started.child)
      return started
    }),
    nexus({}, "db", "migrate")
  ])
  const urls = emulator.info as { issuer: string; codexBaseUrl: string; adminUrl: string }
  const account = await emulatorAccount(urls.adminUrl, "gateway-bench@example.com")
  Object.assign(env, { CODEX_ISSUER: urls.issuer, CODEX_BASE_URL: urls.codexBaseUrl })
  const ready = Promise.all([
    nexus(account.loginEnv, "login", "--from-env", "--label", "bench"),
    nexus({}, "gateway", "keys", "create", "bench", "--json")
  ])
  // Awaited below, once the replay server is up: a failure meanwhile is not an unhandled one.
  ready.catch(() => {})

  // The reply, `words` words long (the emulator echoes the user's text, one delta a word), recorded
  // from the body the gateway sends upstream for the request below, headers (the x-codex-* usage
  // windows) included.
  const text = Array.from(
    { length: words },
    (_, i) => ["the", "gateway", "streams", "this", "reply", "back", "word", "by", "word"][i % 9]
  ).join(" ")
  const recorded = await post(
    `${urls.codexBaseUrl}/responses`,
    {
      model: "gpt-5.5",
      instructions: "You are a helpful assistant.",
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text }] }],
      store: false,
      stream: true
    },
    {
      authorization: `Bearer ${account.loginEnv.CODEX_ACCESS_TOKEN}`,
      "chatgpt-account-id": account.id,
      accept: "text/event-stream"
    }
  )
  const headers = Object.fromEntries(
    [...recorded.headers].filter(([name]) => name === "content-type" || name.startsWith("x-codex-"))
  )
  const events = (await recorded.text()).split(/(?<=\n\n)/)
  const recording = Path.join(dataDir, "reply.json")
  writeFileSync(recording, JSON.stringify({ headers, events }))
  const replay = await startServer(["tooling/bench/bare-server.ts", recording])
  children.push(replay.child)
  const proxy = await startServer(["-e", PROXY, replay.info.url!])
  children.push(proxy.child)
  const { key } = JSON.parse((await ready)[1]) as { key: string }
  const pg = new Client({ connectionString: databaseUrl })
  // Dropping the database at the end ends the connection: not an error of the bench.
  pg.on("error", () => {})
  await pg.connect()
  /**
   * Transactions the server counted on the scratch database (backends report them at most once a
   * second, hence the wait; this query is one of them). Only the gateways use that database.
   */
  const transactions = async () => {
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const { rows } = await pg.query<{ n: string }>(
      "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()"
    )
    return Number(rows[0]!.n)
  }

  // --- nexus serve, signed in on one account, on the replay server ------------------------------
  /** `nexus serve` of the bundle `bin`, listening: its process and port. */
  const startServe = async (bin: string, extra: Record<string, string> = {}) => {
    const serve = spawn(process.execPath, [bin, "serve", "--host", "127.0.0.1", "--port", "0"], {
      env: { ...env, CODEX_BASE_URL: `${replay.info.url}/backend-api/codex`, NEXUS_LOG_LEVEL: "info", ...extra },
      stdio: ["ignore", "ignore", "pipe"]
    })
    serves.push(serve)
    // Its log is read to the end (a full pipe would stall it); the last of it goes in an error.
    let log = ""
    const port = await new Promise<number>((resolve, reject) => {
      serve.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        log = (log + chunk).slice(-4000)
        const listening = /gateway listening.*?:(\d+)/.exec(log)
        if (listening) resolve(Number(listening[1]))
      })
      serve.once("exit", (code) => reject(new Error(`nexus serve (${bin}) exited with ${code}:\n${log}`)))
    })
    return { serve, port }
  }
  const [started, earlier] = await Promise.all([
    startServe(
      cliBin,
      values.profile === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values.profile}` }
    ),
    values.against === undefined
      ? undefined
      : startServe(Path.resolve(values.against, "apps", "cli", "dist", "nexus.mjs"))
  ])

  // --- The client -------------------------------------------------------------------------------
  const payload = JSON.stringify({ model: "gpt-5.5", stream: true, messages: [{ role: "user", content: text }] })
  interface Side {
    readonly name: string
    readonly port: number
    readonly pid: number
    readonly headers: Record<string, string>
    /** How a complete reply ends. */
    readonly end: string
    readonly agent: Agent
  }
  const side = (name: string, url: string, pid: number, end: string, extra: Record<string, string> = {}): Side => ({
    name,
    port: Number(new URL(url).port),
    pid,
    end,
    headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)), ...extra },
    agent: new Agent({ keepAlive: true, maxSockets: concurrency })
  })
  const gateway = side("nexus serve", `http://127.0.0.1:${started.port}`, started.serve.pid!, "data: [DONE]\n\n", {
    authorization: `Bearer ${key}`
  })
  // The proxy's reply ends as the recording does (with response.completed).
  const bare = side("bare node:http proxy", proxy.info.url!, proxy.child.pid!, events.at(-1)!.slice(-24))
  const previous =
    earlier === undefined
      ? undefined
      : side("before: nexus serve", `http://127.0.0.1:${earlier.port}`, earlier.serve.pid!, "data: [DONE]\n\n", {
          authorization: `Bearer ${key}`
        })
  const sides = previous === undefined ? [gateway, bare] : [gateway, bare, previous]

  /** One streamed request, read to its end: ms to the first byte of the body and to the last. */
  const once = (target: Side, keep?: Array<Buffer>) =>
    new Promise<{ readonly first: number; readonly last: number }>((resolve, reject) => {
      const began = performance.now()
      const request = httpRequest(
        {
          host: "127.0.0.1",
          port: target.port,
          path: "/v1/chat/completions",
          method: "POST",
          agent: target.agent,
          headers: target.headers
        },
        (response) => {
          let first = 0
          let tail = ""
          response.on("data", (chunk: Buffer) => {
            if (first === 0) first = performance.now()
            tail = (tail + chunk.toString("latin1")).slice(-32)
            keep?.push(chunk)
          })
          response.once("end", () => {
            if (response.statusCode !== 200 || !tail.endsWith(target.end)) {
              return reject(new Error(`${target.name}: HTTP ${response.statusCode}, the reply ends with ${tail}`))
            }
            const last = performance.now()
            resolve({ first: first - began, last: last - began })
          })
          response.once("error", reject)
        }
      )
      request.once("error", reject)
      request.end(payload)
    })

  /** `concurrency` loops of requests for `ms`; answers how many completed. */
  const load = async (target: Side, ms: number) => {
    const deadline = performance.now() + ms
    let done = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          await once(target)
          done++
        }
      })
    )
    return done
  }

  // Checked once: the gateway's chunks spell the reply, and end with [DONE]. (The reads it took
  // here tell how many writes each server made of it, give or take those the socket coalesced.)
  const kept: Array<Buffer> = []
  await once(gateway, kept)
  const proxied: Array<Buffer> = []
  await once(bare, proxied)
  const chunks = Buffer.concat(kept)
    .toString("utf8")
    .split("\n\n")
    .filter((frame) => frame.startsWith("data: {"))
    .map((frame) => JSON.parse(frame.slice(6)) as { choices: Array<{ delta: { content?: string } }> })
  const spelled = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
  if (spelled !== text) throw new Error(`nexus serve streamed ${JSON.stringify(spelled)}, not the reply`)
  console.log(
    `the reply: ${words} words, ${events.length} upstream events (${Buffer.byteLength(events.join(""))} bytes); nexus serve streams it as ${chunks.length} chunks in ${kept.length} reads here, the proxy in ${proxied.length}`
  )

  // Warm-up of both sides (connections, the JIT, the key's cache, the catalog), sequential and loaded.
  for (const target of sides) {
    for (let i = 0; i < (values.quick ? 100 : 500); i++) await once(target)
    await load(target, values.quick ? 300 : 1500)
  }

  /**
   * Each turn starts with another side, and every other cycle runs backwards: no side always
   * follows the same other one (and its garbage, its warm caches). (With three sides in one
   * rotation, the first measured slower at concurrency 1 than the same build as the third.)
   */
  const inTurn = (turn: number) => {
    const rotated = sides.map((_, i) => sides[(i + turn) % sides.length]!)
    return Math.floor(turn / sides.length) % 2 === 0 ? rotated : rotated.toReversed()
  }

  // --- 1. Concurrency 1 -----------------------------------------------------------------------
  const firsts = new Map<Side, Array<number>>(sides.map((s) => [s, []]))
  const lasts = new Map<Side, Array<number>>(sides.map((s) => [s, []]))
  // Counting the database's transactions waits 3 s for its statistics: not in a quick run.
  const committed = values.quick ? 0 : await transactions()
  for (let turn = 0; turn < Math.ceil(sequential / BLOCK); turn++) {
    for (const target of inTurn(turn)) {
      for (let i = 0; i < BLOCK; i++) {
        const { first, last } = await once(target)
        firsts.get(target)!.push(first)
        lasts.get(target)!.push(last)
      }
    }
  }
  // Every nexus serve of the run records its usage on that database.
  const served = lasts.get(gateway)!.length + (previous === undefined ? 0 : lasts.get(previous)!.length)
  const perRequest = values.quick ? undefined : ((await transactions()) - committed - 1) / served
  const latency = new Map(
    sides.map((target) => {
      const last = lasts.get(target)!.sort((a, b) => a - b)
      const first = firsts.get(target)!.sort((a, b) => a - b)
      return [
        target,
        { p50: percentile(last, 0.5), p95: percentile(last, 0.95), first: percentile(first, 0.5) }
      ] as const
    })
  )
  for (const target of sides) {
    const { p50, p95, first } = latency.get(target)!
    console.log(
      `concurrency 1   ${target.name.padEnd(21)} to the last byte p50 ${p50.toFixed(3)} ms, p95 ${p95.toFixed(3)} ms; to the first byte p50 ${first.toFixed(3)} ms (${lasts.get(target)!.length} requests)`
    )
  }
  if (perRequest !== undefined) {
    console.log(`  (nexus serve: ${perRequest.toFixed(2)} database transactions per request at concurrency 1)`)
  }

  // --- 2. Concurrency N -----------------------------------------------------------------------
  const done = new Map<Side, number>(sides.map((s) => [s, 0]))
  const took = new Map<Side, number>(sides.map((s) => [s, 0]))
  /** CPU ms per side: the server in the middle, the replay server, this process (the client). */
  const cpu = new Map<Side, { middle: number; upstream: number; client: number }>(
    sides.map((s) => [s, { middle: 0, upstream: 0, client: 0 }])
  )
  for (let round = 0; round < rounds; round++) {
    for (const target of inTurn(round)) {
      const before = { middle: cpuMs(target.pid), upstream: cpuMs(replay.child.pid!), client: process.cpuUsage() }
      const began = performance.now()
      done.set(target, done.get(target)! + (await load(target, (seconds * 1000) / rounds)))
      took.set(target, took.get(target)! + (performance.now() - began) / 1000)
      const used = process.cpuUsage(before.client)
      const sum = cpu.get(target)!
      sum.middle += cpuMs(target.pid) - before.middle
      sum.upstream += cpuMs(replay.child.pid!) - before.upstream
      sum.client += (used.user + used.system) / 1000
    }
  }
  const rate = new Map(sides.map((target) => [target, done.get(target)! / took.get(target)!]))
  for (const target of sides) {
    const count = done.get(target)!
    const { middle, upstream, client } = cpu.get(target)!
    console.log(
      `concurrency ${String(concurrency).padEnd(3)} ${target.name.padEnd(21)} ${rate.get(target)!.toFixed(0).padStart(6)} requests/s (${count} in ${took.get(target)!.toFixed(1)} s); CPU per request: the server ${(middle / count).toFixed(3)} ms, the replayed upstream ${(upstream / count).toFixed(3)} ms, the client ${(client / count).toFixed(3)} ms`
    )
  }
  /** The CPU the server in the middle spent per request. */
  const serverCpu = (target: Side) => cpu.get(target)!.middle / done.get(target)!

  // --- The figures ------------------------------------------------------------------------------
  const ours = latency.get(gateway)!
  const theirs = latency.get(bare)!
  const added = ours.p50 - theirs.p50
  const figures = [
    ["p50 to the last byte", ours.p50, theirs.p50, { text: "≤ 1 ms added", met: added <= 1 }],
    ["p95 to the last byte", ours.p95, theirs.p95, undefined],
    ["p50 to the first byte", ours.first, theirs.first, undefined]
  ] as const
  for (const [name, value, baseline, goal] of figures) {
    report.add({
      figure: `streamed chat completion: ${name} at concurrency 1`,
      value,
      unit: "ms",
      baseline: { name: bare.name, value: baseline },
      ratio: value / baseline,
      added: value - baseline,
      ...(goal === undefined ? {} : { goal: goal.text, met: goal.met })
    })
  }
  const ratio = report.ratio(
    `streamed chat completions/s at concurrency ${concurrency}`,
    "requests/s",
    rate.get(gateway)!,
    { name: bare.name, value: rate.get(bare)! },
    { text: "≥ 0.5× the proxy", min: 0.5 }
  )
  console.log(
    `nexus serve: p50 added ${added.toFixed(3)} ms (goal ≤ 1 ms: ${added <= 1 ? "met" : "NOT met"}), p95 added ${(ours.p95 - theirs.p95).toFixed(3)} ms, first byte added ${(ours.first - theirs.first).toFixed(3)} ms; throughput ${ratio.toFixed(2)}× the proxy (goal ≥ 0.5×: ${ratio >= 0.5 ? "met" : "NOT met"})`
  )
  if (previous !== undefined) {
    const was = latency.get(previous)!
    report.ratio(
      `streamed chat completions/s at concurrency ${concurrency}, against before`,
      "requests/s",
      rate.get(gateway)!,
      { name: previous.name, value: rate.get(previous)! }
    )
    console.log(
      `nexus serve against before: throughput ${(rate.get(gateway)! / rate.get(previous)!).toFixed(2)}×, server CPU per request ${serverCpu(gateway).toFixed(3)} ms against ${serverCpu(previous).toFixed(3)} ms (${(serverCpu(gateway) / serverCpu(previous)).toFixed(2)}×), p50 ${ours.p50.toFixed(3)} ms against ${was.p50.toFixed(3)} ms`
    )
  }
  for (const target of sides) target.agent.destroy()
  await pg.end()
  report.write()
} finally {
  await cleanUp()
}
