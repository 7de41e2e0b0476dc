// CodexClient.chat and .stream against a server that replays a recorded SSE reply, side by side in
// one run with bare undici.request parsing the same stream by hand: at concurrency 1 (the latency
// the client adds, p50/p99) and at 64 (throughput ratio). Credentials and usage windows are
// in-memory here: the bench measures the client's hot path (request, SSE parsing, event decoding).
//   node tooling/bench/codex-client.ts [--requests 3000] [--seconds 12] [--rounds N] [--against DIR] [--quick] [--json FILE]
// (requests and seconds are per side, split over the rounds: as many as there are sides by default). `--against DIR` adds the client of
// another checkout of Nexus (e.g. `git worktree add /tmp/before <commit>`, then `./dev setup`
// there) to the same run, taking turns with this one: before/after figures of a change measured
// side by side, not in two runs that the machine's drift sets apart.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { TokenSet } from "@nexus/oauth"
import { Console, Effect } from "effect"
import { benchArgs } from "./args.ts"
import { startServer } from "./children.ts"
import { makeReport } from "./report.ts"
import type * as SidesModule from "./codex-client-sides.ts"
import { copyFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Agent, request as undiciRequest } from "undici"

const values = benchArgs(
  {
    requests: { type: "string", default: "3000" },
    seconds: { type: "string", default: "12" },
    rounds: { type: "string" },
    against: { type: "string" }
  },
  { requests: "300", seconds: "0.6" }
)
const report = makeReport("codex-client", values)
const sequential = Number(values.requests)
const seconds = Number(values.seconds)
const against = values.against === undefined ? undefined : resolve(values.against)
const BEFORE = "before: "
const TRACED = "CodexClient.chat, traced"

/**
 * The sides of the checkout at `dir`: a copy of codex-client-sides.ts placed in its bench package
 * (so that it loads that checkout's `effect`, provider and token-store), imported, then removed.
 */
const loadFrom = async (dir: string): Promise<typeof SidesModule> => {
  const copy = join(dir, "tooling", "bench", `.codex-client-sides-${process.pid}.ts`)
  copyFileSync(new URL("./codex-client-sides.ts", import.meta.url), copy)
  try {
    return await import(pathToFileURL(copy).href)
  } finally {
    rmSync(copy, { force: true })
  }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const program = Effect.gen(function* () {
  // Record one real reply of the emulator (a reasoning turn with text), then replay it from a bare server.
  /** A server child, stopped when the bench ends, however it ends. */
  const server = (args: ReadonlyArray<string>) =>
    Effect.acquireRelease(
      Effect.promise(() => startServer(args)),
      (started) => Effect.sync(() => started.child.kill("SIGTERM"))
    )
  const emulator = yield* server(["packages/codex-emulator/src/bin.ts", "--port", "0"])
  const urls = emulator.info as { codexBaseUrl: string; adminUrl: string }
  const issued = yield* Effect.promise(() =>
    fetch(`${urls.adminUrl}/accounts/00000000-0000-4000-8000-00000000c0de/tokens`, { method: "POST" }).then(
      (r) => r.json() as Promise<TokenSet.TokenResponse & { readonly access_token: string }>
    )
  )
  const tokens = yield* TokenSet.fromTokenResponse(issued)
  const body = {
    model: "gpt-5.5",
    instructions: "You are a helpful assistant.",
    input: [
      {
        type: "message",
        role: "user",
        content: [
          {
            type: "input_text",
            text: "Explain how a token bucket rate limiter refills over time, step by step, in a few sentences."
          }
        ]
      }
    ],
    reasoning: { effort: "low", summary: "auto" },
    include: ["reasoning.encrypted_content"],
    store: false,
    stream: true
  }
  const sample = yield* Effect.promise(() =>
    fetch(`${urls.codexBaseUrl}/responses`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${issued.access_token}`,
        "chatgpt-account-id": tokens.accountId,
        "content-type": "application/json"
      },
      body: JSON.stringify(body)
    })
  )
  const text = yield* Effect.promise(() => sample.text())
  // The recording lives only as long as the bench: removed however the bench ends.
  const recording = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const path = join(tmpdir(), `nexus-bench-codex-${process.pid}.json`)
      writeFileSync(
        path,
        JSON.stringify({ headers: { "content-type": "text/event-stream" }, events: text.split(/(?<=\n\n)/) })
      )
      return path
    }),
    (path) => Effect.sync(() => rmSync(path, { force: true }))
  )
  emulator.child.kill("SIGTERM")
  const bare = yield* server(["tooling/bench/bare-server.ts", recording])
  const baseUrl = `${bare.info.url}/backend-api/codex`

  // One connection pool for every side, as in a worker.
  const agent = new Agent({ connections: 64, pipelining: 1 })
  /** Both clients of a checkout, built by its own copy of codex-client-sides.ts; closed when the bench ends. */
  const clientSides = (load: () => Promise<typeof SidesModule>) =>
    Effect.acquireRelease(
      Effect.promise(() => load().then((module) => module.makeSides({ baseUrl, dispatcher: agent, issued }))),
      (sides) => Effect.promise(() => sides.close())
    )
  const current = yield* clientSides(() => import("./codex-client-sides.ts"))

  const payload = JSON.stringify(body)
  /** The baseline: undici.request, the body read and its SSE parsed by hand for the final text. */
  const bareCall = async () => {
    const response = await undiciRequest(`${baseUrl}/responses`, {
      method: "POST",
      dispatcher: agent,
      headers: { authorization: "Bearer x", "content-type": "application/json", accept: "text/event-stream" },
      body: payload
    })
    let buffer = ""
    let final = ""
    let completed = false
    for await (const chunk of response.body) {
      buffer += chunk.toString()
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const at = block.indexOf("data: ")
        if (at < 0) continue
        const event = JSON.parse(block.slice(at + 6)) as {
          type: string
          item?: { type: string; content?: Array<{ text: string }> }
        }
        if (event.type === "response.output_item.done" && event.item?.type === "message")
          final += event.item.content![0]!.text
        if (event.type === "response.completed") completed = true
      }
    }
    if (!completed || final.length === 0) throw new Error("bare: incomplete reply")
    return final
  }
  const allSides: Record<string, () => Promise<unknown>> = {
    "bare undici.request": () => bareCall(),
    "CodexClient.chat": current.chat,
    "CodexClient.stream": current.stream,
    [TRACED]: current.chatTraced
  }
  if (against !== undefined) {
    const before = yield* clientSides(() => loadFrom(against))
    allSides[`${BEFORE}CodexClient.chat`] = before.chat
    allSides[`${BEFORE}CodexClient.stream`] = before.stream
  }
  // BENCH_ONLY=<name> runs one side alone (for a profile); the ratios need all of them.
  const only = process.env.BENCH_ONLY
  const sides = only === undefined ? allSides : { [only]: allSides[only]! }

  if (process.env.BENCH_DEBUG) {
    for (const [name, call] of Object.entries(sides)) yield* Console.log(name, yield* Effect.promise(() => call()))
  }
  // Warm up every side. Then the sides take turns, in `rounds` rounds, so that drift (JIT, GC,
  // the other processes of a 2-core machine) falls on every side alike; each round starts one side
  // further, so that no side always follows the same one (the garbage a side leaves is collected
  // during the next).
  for (const call of Object.values(sides)) for (let i = 0; i < 300; i++) yield* Effect.promise(() => call())
  const names = Object.keys(sides)
  const rounds = values.rounds === undefined ? names.length : Math.max(1, Number(values.rounds))
  const inTurn = (round: number) => names.map((_, i) => names[(i + round) % names.length]!)
  // Concurrency 1: every call timed; percentiles over all rounds.
  const times: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const name of inTurn(round)) {
      const call = sides[name]!
      for (let i = 0; i < Math.ceil(sequential / rounds); i++) {
        const began = performance.now()
        yield* Effect.promise(() => call())
        times[name]!.push(performance.now() - began)
      }
    }
  }
  const latency: Record<string, { p50: number; p99: number }> = {}
  for (const name of names) {
    const sorted = times[name]!.sort((a, b) => a - b)
    latency[name] = { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
    yield* Console.log(
      `concurrency 1   ${name.padEnd(20)} p50 ${latency[name]!.p50.toFixed(3)} ms   p99 ${latency[name]!.p99.toFixed(3)} ms`
    )
  }
  // Concurrency 64: completed turns per second, the median of the rounds.
  const rates: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  /** This process's CPU time per turn (user + system): what the client costs, whatever the server does. */
  const cpu: Record<string, { micros: number; turns: number }> = Object.fromEntries(
    names.map((name) => [name, { micros: 0, turns: 0 }])
  )
  for (let round = 0; round < rounds; round++) {
    for (const name of inTurn(round)) {
      const call = sides[name]!
      const deadline = performance.now() + (seconds * 1000) / rounds
      const began = performance.now()
      const cpuBefore = process.cpuUsage()
      let done = 0
      yield* Effect.promise(() =>
        Promise.all(
          Array.from({ length: 64 }, async () => {
            while (performance.now() < deadline) {
              await call()
              done++
            }
          })
        )
      )
      rates[name]!.push(done / ((performance.now() - began) / 1000))
      const used = process.cpuUsage(cpuBefore)
      cpu[name]!.micros += used.user + used.system
      cpu[name]!.turns += done
    }
  }
  const rate: Record<string, number> = {}
  for (const name of names) {
    const sorted = rates[name]!.sort((a, b) => a - b)
    rate[name] = sorted[Math.floor(sorted.length / 2)]!
    yield* Console.log(
      `concurrency 64  ${name.padEnd(20)} ${rate[name]!.toFixed(0).padStart(6)} turns/s (median of ${rounds} rounds), ` +
        `${(cpu[name]!.micros / cpu[name]!.turns).toFixed(0)} µs of client CPU per turn`
    )
  }
  if (only !== undefined) return yield* Effect.promise(() => agent.close())
  const base = latency["bare undici.request"]!
  const perTurn = (name: string) => cpu[name]!.micros / cpu[name]!.turns
  for (const name of names.filter((side) => side !== "bare undici.request")) {
    yield* Console.log(
      `${name}: p50 added ${(latency[name]!.p50 - base.p50).toFixed(3)} ms (goal ≤ 0.2), p99 added ${(latency[name]!.p99 - base.p99).toFixed(3)} ms; ` +
        `throughput ${(rate[name]! / rate["bare undici.request"]!).toFixed(2)}x bare (goal ≥ 0.5)`
    )
    for (const p of ["p50", "p99"] as const) {
      const added = latency[name]![p] - base[p]
      report.add({
        figure: `${name}: ${p} at concurrency 1`,
        value: latency[name]![p],
        unit: "ms",
        baseline: { name: "bare undici.request", value: base[p] },
        ratio: latency[name]![p] / base[p],
        added,
        ...(p === "p50" ? { goal: "≤ 0.2 ms added", met: added <= 0.2 } : {})
      })
    }
    report.ratio(
      `${name}: turns/s at concurrency 64`,
      "turns/s",
      rate[name]!,
      { name: "bare undici.request", value: rate["bare undici.request"]! },
      { text: "≥ 0.5× bare", min: 0.5 }
    )
  }
  yield* Console.log(
    `tracing on (a tracer installed): chat throughput ${(rate[TRACED]! / rate["CodexClient.chat"]!).toFixed(2)}x, ` +
      `client CPU per turn ${(perTurn(TRACED) / perTurn("CodexClient.chat")).toFixed(2)}x untraced`
  )
  if (against !== undefined) {
    for (const name of ["CodexClient.chat", "CodexClient.stream"]) {
      const before = `${BEFORE}${name}`
      yield* Console.log(
        `${name} after/before: throughput ${(rate[name]! / rate[before]!).toFixed(2)}x, ` +
          `client CPU per turn ${(perTurn(name) / perTurn(before)).toFixed(2)}x, ` +
          `p50 ${(latency[name]!.p50 - latency[before]!.p50).toFixed(3)} ms, p99 ${(latency[name]!.p99 - latency[before]!.p99).toFixed(3)} ms`
      )
    }
  }
  report.write()
  yield* Effect.promise(() => agent.close())
})

NodeRuntime.runMain(Effect.scoped(program))
