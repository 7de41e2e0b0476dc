/**
 * `nexus demo`: the whole of Nexus on this machine, offline, in a throwaway data dir — the emulator
 * (standing in for auth.openai.com and the Codex backend, with a Plus and a Pro account), the
 * embedded PostgreSQL, `nexus db migrate`, two device-code sign-ins, two `nexus worker`
 * processes, and an agent whose dozen requests show routing, a tool call, a usage-limit fallback,
 * a streamed answer and a dead-lettered message. Everything it started is stopped and deleted at
 * the end, whatever happens.
 *
 * @since 0.1.0
 */
import { Database, Embedded } from "@nexus/database"
import { type Contract, LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import { Console, Effect, Exit as EffectExit, Layer, Redacted } from "effect"
import { Command } from "effect/cli"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Row } from "../internal/demo.ts"
import { Exit } from "../Run.ts"

const program = Effect.gen(function* () {
  // Loaded here only: no other command carries the emulator.
  const Demo = yield* Effect.promise(() => import("../internal/demo.ts"))
  const { Emulator } = yield* Effect.promise(() => import("@nexus/codex-emulator"))
  const began = Date.now()
  const tty = process.stdout.isTTY === true
  const c = Demo.colours(tty)
  const step = (text: string) => Console.log(`${c.bold("▸")} ${text}`)

  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "nexus-demo-"))),
    (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
  )

  const emulatorContext = yield* Layer.build(
    Emulator.Emulator.layer({
      accounts: [
        { id: "demo-plus", email: "plus@demo.example", plan: "plus", budget: { primary: 1000, secondary: 1000 } },
        { id: "demo-pro", email: "pro@demo.example", plan: "pro", budget: { primary: 1000, secondary: 1000 } }
      ],
      settings: { deviceIntervalSeconds: 1 }
    })
  )
  const emulator = yield* Effect.provide(Emulator.Emulator, emulatorContext)
  yield* emulator.setReplies(Demo.REPLIES)
  yield* step(`emulator (auth.openai.com and the Codex backend) on ${emulator.urls.issuer}: a Plus and a Pro account`)

  const embedded = Embedded.EmbeddedPostgres.make(dir)
  const database = yield* Effect.acquireRelease(embedded.start, () => Effect.ignore(embedded.destroy))
  const url = Redacted.value(yield* embedded.url)
  yield* step(`embedded PostgreSQL 18 on 127.0.0.1:${database.port} (data in ${dir})`)

  const env: Record<string, string | undefined> = {
    ...Demo.baseEnv(),
    DATABASE_URL: url,
    CODEX_ISSUER: emulator.urls.issuer,
    CODEX_BASE_URL: emulator.urls.codexBaseUrl,
    NEXUS_TOKEN_KEY: randomBytes(32).toString("base64"),
    NEXUS_DATA_DIR: dir,
    NEXUS_TOKEN_FILE: join(dir, "tokens.json"),
    NEXUS_LOG_LEVEL: "warn",
    NO_COLOR: "1"
  }
  /** Runs `nexus args…` to its end; fails the demo with its output when it fails. */
  const nexus = (args: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const child = yield* Demo.scopedChild(args, env)
      const code = yield* Demo.exited(child, 60_000)
      if (code !== 0) return yield* Effect.fail(`nexus ${args.join(" ")} failed: ${child.output().trim()}`)
      return child.output()
    })

  yield* nexus(["db", "migrate"])
  yield* step("nexus db migrate: the Nexus tables, pgmq and the queues")

  const labels = new Map([
    ["demo-plus", "plus"],
    ["demo-pro", "pro"]
  ])
  yield* Effect.forEach(
    labels,
    ([account, label]) =>
      Effect.gen(function* () {
        const child = yield* Demo.scopedChild(["login", "--device", "--label", label], env)
        const [, code] = yield* Demo.waitForOutput(child, /enter the code (\S+)/, 20_000)
        // The person at the browser, approving the code for this account.
        yield* emulator.approveDevice(code!, { account })
        const exit = yield* Demo.exited(child, 30_000)
        if (exit !== 0) return yield* Effect.fail(`nexus login --device failed: ${child.output().trim()}`)
      }),
    { concurrency: "unbounded", discard: true }
  )
  yield* step("nexus login --device, twice: plus and pro signed in through the device flow")

  // Scoped: stopped (SIGTERM, a clean drain) before the database they use is deleted.
  const workers = yield* Effect.forEach([1, 2], () =>
    Effect.tap(
      Demo.scopedChild(["worker", "--port", "0", "--concurrency", "8"], { ...env, NEXUS_LOG_LEVEL: "info" }),
      (child) => Demo.waitForOutput(child, /worker started/, 30_000)
    )
  )
  yield* step(`two workers (nexus worker, pids ${workers.map((worker) => worker.process.pid).join(" and ")})`)

  // The agent: a client of the queue, as any program with a PostgreSQL driver would be.
  const agent = LlmQueue.LlmQueue.layerNoDeps.pipe(
    Layer.provideMerge(Pgmq.Pgmq.layerNoDeps),
    Layer.provideMerge(Database.Database.layerUrl(url))
  )
  const rows: Array<Row> = Demo.REQUESTS.map((request) => ({
    request,
    state: "waiting",
    route: "",
    tokens: "",
    latencyMs: undefined,
    outcome: ""
  }))
  let drawn = 0
  const show = (row: Row) =>
    Effect.sync(() => {
      const line = (entry: Row) =>
        `  ${entry.state === "waiting" ? c.dim("…") : entry.state === "done" ? c.green("✓") : c.red("✗")} ${entry.request.name.padEnd(9)} ${`${entry.request.taskType}/${entry.request.complexity}`.padEnd(24)} ${entry.state === "waiting" ? c.dim("waiting") : `${entry.route}  ${entry.outcome}`}`
      if (!tty) {
        if (row.state !== "waiting") process.stdout.write(`${line(row)}\n`)
        return
      }
      // On a terminal, the block of requests is redrawn in place.
      if (drawn > 0) process.stdout.write(`\x1b[${drawn}A`)
      for (const entry of rows) process.stdout.write(`\x1b[2K${line(entry)}\n`)
      drawn = rows.length
    })

  const finish = (row: Row, result: Contract.LlmResult, started: number) => {
    row.latencyMs = Date.now() - started
    row.route = Demo.describeRoute(result, labels)
    row.tokens = result.usage === undefined ? "-" : `${result.usage.input_tokens}+${result.usage.output_tokens}`
    const calls = result.output?.tool_calls ?? []
    row.state = result.status === "ok" ? "done" : "failed"
    row.outcome =
      result.status !== "ok"
        ? `error: ${result.error?.message ?? "?"}`
        : calls.length > 0
          ? `tool call ${calls.map(Demo.describeCall).join(", ")}`
          : row.route.includes("skipped")
            ? "ok after a usage limit: answered by the other account"
            : "ok"
  }

  yield* step("the agent enqueues its requests on llm_requests; the workers answer on llm_results")
  yield* Effect.gen(function* () {
    const queue = yield* LlmQueue.LlmQueue
    const pgmq = yield* Pgmq.Pgmq
    yield* Effect.forEach(rows, show, { discard: true }).pipe(Effect.when(Effect.succeed(tty)))
    const ask = (row: Row) =>
      Effect.gen(function* () {
        const started = Date.now()
        const id = randomUUID()
        yield* queue.enqueue(Demo.toMessage(row.request, id))
        finish(row, yield* queue.awaitResult(id, { timeout: "30 seconds" }), started)
        yield* show(row)
      })
    const malformed = Effect.gen(function* () {
      const row = rows.find((entry) => entry.request.kind === "malformed")!
      const started = Date.now()
      const msgId = yield* pgmq.send("llm_requests", Demo.MALFORMED)
      for (let waited = 0; ; waited += 100) {
        if (waited > 30_000) return yield* Effect.fail("the malformed message was not dead-lettered within 30 s")
        const letter = (yield* queue.deadLetters).find((entry) => entry.letter.original_msg_id === String(msgId))
        if (letter !== undefined) {
          row.state = "done"
          row.latencyMs = Date.now() - started
          row.route = "llm_requests_dlq"
          row.tokens = "-"
          row.outcome = `dead-lettered: ${letter.letter.reason}`
          return yield* show(row)
        }
        yield* Effect.sleep("100 millis")
      }
    })
    const streamed = Effect.gen(function* () {
      const row = rows.find((entry) => entry.request.kind === "stream")!
      const started = Date.now()
      const child = yield* Demo.scopedChild(["chat", "--stream", row.request.prompt], env)
      // The answer as it arrives, word count on the live view.
      const words = () => child.output().trim().split(/\s+/).filter(Boolean).length
      const progress = Effect.forever(
        Effect.andThen(
          Effect.suspend(() => {
            row.route = "nexus chat, streamed through the router"
            row.outcome = `${words()} words so far`
            return tty ? show(row) : Effect.void
          }),
          Effect.sleep("50 millis")
        )
      )
      if ((yield* Effect.raceFirst(Demo.exited(child, 30_000), progress)) !== 0) {
        return yield* Effect.fail(`nexus chat failed: ${child.output().trim()}`)
      }
      const text = child.output()
      row.state = "done"
      row.latencyMs = Date.now() - started
      row.route = "nexus chat, streamed through the router"
      row.tokens = "-"
      row.outcome = `${text.trim().split(/\s+/).length} words streamed`
      yield* show(row)
    })
    const plain = rows.filter((row) => row.request.kind === "answer" || row.request.kind === "tool")
    yield* Effect.all([Effect.forEach(plain, ask, { concurrency: "unbounded", discard: true }), malformed, streamed], {
      concurrency: "unbounded",
      discard: true
    })
    // Then the next turn on either account answers 429 usage limit: the router records the block
    // for the fleet and the request is served by the other account.
    yield* emulator.injectFault({ kind: "usage_limit", route: "responses", times: 1, resetsInSeconds: 120 })
    yield* ask(rows.find((row) => row.request.kind === "fallback")!)
  }).pipe(Effect.provide(agent))

  yield* Console.log(`\n${Demo.table(rows)}\n`)
  const failed = rows.filter(
    (row) => row.state !== "done" || (row.request.kind === "fallback" && !row.route.includes("skipped"))
  )
  if (failed.length > 0) {
    return yield* Effect.fail(`not as expected: ${failed.map((row) => row.request.name).join(", ")}`)
  }
  yield* Console.log(
    `${c.green("Done")} in ${((Date.now() - began) / 1000).toFixed(1)} s: ${rows.length} requests, each with exactly one outcome. Stopping the workers, the database and the emulator.`
  )
}).pipe(Effect.scoped)

/**
 * `nexus demo`.
 *
 * @since 0.1.0
 * @category commands
 */
export const demo = Command.make(
  "demo",
  {},
  Effect.fn("nexus.demo")(function* () {
    const exit = yield* Effect.exit(program)
    if (EffectExit.isFailure(exit)) {
      const reason = exit.cause.reasons.find((entry) => entry._tag === "Fail")
      if (reason === undefined) return yield* exit
      yield* Console.error(`Error: the demo failed: ${String(reason.error)}`)
      return yield* new Exit({ code: 1 })
    }
    yield* Console.log("Nothing is left running.")
  })
).pipe(
  Command.withDescription(
    "Run the whole of Nexus offline in a throwaway data dir: emulator, embedded PostgreSQL, two sign-ins, two workers, a dozen requests"
  ),
  Command.withExamples([{ command: "nexus demo", description: "See requests flow through workers to results" }])
)
