// The Pgmq service against bare `pg` (node-postgres, one connection) running the same SQL, side by
// side in one run: send, read + archive, batch send (100), read 100 + archive the batch. The sides
// take turns in blocks within rotating rounds on one scratch database (Nexus's pgmq-compatible install, or the
// extension when the server has it); the figures are medians of the rounds. Goal: Pgmq ≥ 0.9× pg.
// Commits do not wait for the disk unless --durable: this VM's fsync (about 3.5 ms) would otherwise
// be most of every call and hide what the clients cost.
//   node tooling/bench/queue.ts [--rounds 6] [--scale 1] [--durable] [--quick] [--json FILE]   (scale multiplies the operations per round)
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { PgClient } from "@effect/sql-pg"
import { Migrations, Pgmq } from "@nexus/queue-pgmq"
import { TestDatabase } from "@nexus/testing"
import { Console, Effect, Layer, Redacted } from "effect"
import { Client } from "pg"
import { benchArgs } from "./args.ts"
import { makeReport } from "./report.ts"

const values = benchArgs(
  {
    rounds: { type: "string", default: "6" },
    scale: { type: "string", default: "1" },
    durable: { type: "boolean", default: false }
  },
  { rounds: "2", scale: "0.3" }
)
const report = makeReport("queue", values)
const rounds = Math.max(1, Number(values.rounds))
const scale = Math.max(0.1, Number(values.scale))

const QUEUE = "bench"

/** Turns per round, each side running a tenth of the round's operations in each. */
const BLOCKS = 10

/** A request of the LLM contract, about 600 bytes of JSON: what the queue carries. */
const body = {
  version: 1,
  id: "5b0c4a52-7c1d-4c0b-9a53-2a1f8f5e7a10",
  task_type: "code_generation",
  complexity: "medium",
  messages: [
    { role: "system", content: "You are a careful senior engineer. Answer with code only." },
    {
      role: "user",
      content: "Write a function that merges two sorted arrays of numbers into one sorted array. ".repeat(4)
    }
  ],
  options: { reasoning_effort: "medium", max_output_tokens: 2048 },
  reply_to: "llm_results",
  metadata: { team: "platform", trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }
}
const text = JSON.stringify(body)
const hundred = Array.from({ length: 100 }, () => body)
const hundredTexts = hundred.map(() => text)

/** The SQL the Pgmq service sends, written out for node-postgres (which, like it, serialises the bodies per call). */
const SQL = {
  send: "SELECT pgmq.send($1::text, $2::jsonb, $3::jsonb, $4::integer) AS id",
  read: "SELECT * FROM pgmq.read($1::text, $2::integer, $3::integer, $4::jsonb)",
  archive: "SELECT pgmq.archive($1::text, $2::bigint) AS ok",
  sendBatch:
    "SELECT coalesce(array_agg(sent.id ORDER BY sent.n), '{}') AS ids FROM pgmq.send_batch($1::text, ARRAY(SELECT CASE WHEN jsonb_typeof(e.value) = 'null' THEN NULL ELSE e.value END FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, n) ORDER BY e.n), NULL::jsonb[], $3::integer) WITH ORDINALITY AS sent(id, n)",
  fill: "SELECT pgmq.send_batch($1::text, $2::jsonb[], NULL::jsonb[], 0)",
  archiveBatch: "SELECT pgmq.archive($1::text, $2::bigint[]) AS id",
  purge: "SELECT pgmq.purge_queue($1::text)"
}

interface Operation {
  readonly name: string
  /** Operations per round (before scaling). */
  readonly count: number
  /** Messages the queue must hold before a round (sent untimed). */
  readonly fill: number
  /** Messages moved per operation, for the messages/s column. */
  readonly messages: number
  readonly pgmq: (pgmq: Pgmq.Pgmq["Service"]) => Effect.Effect<unknown, unknown>
  readonly pg: (client: Client) => Promise<unknown>
}

const operations: ReadonlyArray<Operation> = [
  {
    name: "send",
    count: 2000,
    fill: 0,
    messages: 1,
    pgmq: (pgmq) => pgmq.send(QUEUE, body),
    pg: (client) => client.query(SQL.send, [QUEUE, JSON.stringify(body), null, 0])
  },
  {
    name: "read + archive",
    count: 1000,
    fill: 1000,
    messages: 1,
    pgmq: (pgmq) =>
      Effect.flatMap(pgmq.read(QUEUE, { vt: 30, qty: 1 }), ([message]) => pgmq.archive(QUEUE, message!.msgId)),
    pg: async (client) => {
      const { rows } = await client.query(SQL.read, [QUEUE, 30, 1, "{}"])
      return client.query(SQL.archive, [QUEUE, rows[0].msg_id])
    }
  },
  {
    name: "batch send (100)",
    count: 100,
    fill: 0,
    messages: 100,
    pgmq: (pgmq) => pgmq.sendBatch(QUEUE, hundred),
    pg: (client) => client.query(SQL.sendBatch, [QUEUE, JSON.stringify(hundred), 0])
  },
  {
    name: "read 100 + archive batch",
    count: 40,
    fill: 4000,
    messages: 100,
    pgmq: (pgmq) =>
      Effect.flatMap(pgmq.read(QUEUE, { vt: 30, qty: 100 }), (messages) =>
        pgmq.archiveBatch(
          QUEUE,
          messages.map((message) => message.msgId)
        )
      ),
    pg: async (client) => {
      const { rows } = await client.query(SQL.read, [QUEUE, 30, 100, "{}"])
      return client.query(SQL.archiveBatch, [QUEUE, rows.map((row: { msg_id: string }) => row.msg_id)])
    }
  }
]

const median = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const program = Effect.gen(function* () {
  const pgmq = yield* Pgmq.Pgmq
  const { url } = yield* TestDatabase.TestDatabase
  const installation = yield* pgmq.installation
  const client = new Client({ connectionString: url })
  yield* Effect.promise(() => client.connect())
  yield* Effect.addFinalizer(() => Effect.promise(() => client.end()))
  yield* pgmq.create(QUEUE)

  /** Empties the queue and puts `count` messages on it, untimed. */
  const prepare = (count: number) =>
    Effect.promise(async () => {
      await client.query(SQL.purge, [QUEUE])
      for (let sent = 0; sent < count; sent += 100) await client.query(SQL.fill, [QUEUE, hundredTexts])
    })

  const timed = {
    pgmq: (operation: Operation, count: number) =>
      Effect.gen(function* () {
        const call = operation.pgmq(pgmq)
        const began = performance.now()
        for (let i = 0; i < count; i++) yield* call
        return (performance.now() - began) / 1000
      }),
    pg: (operation: Operation, count: number) =>
      Effect.promise(async () => {
        const began = performance.now()
        for (let i = 0; i < count; i++) await operation.pg(client)
        return (performance.now() - began) / 1000
      })
  }

  yield* Console.log(
    `pgmq: ${installation.description}; commits ${values.durable ? "wait for the disk" : "do not wait for the disk (synchronous_commit off)"}; ${rounds} rounds, the sides taking turns (median operations per second)`
  )
  const rates = operations.map(() => ({ pgmq: [] as Array<number>, pg: [] as Array<number> }))
  // A warm-up round first: statements prepared, JIT warm, the table's pages cached. Within a round
  // the sides alternate in blocks of a tenth of the round, so that what drifts on the server (WAL,
  // checkpoints, autovacuum, a growing table) falls on both.
  for (let round = -1; round < rounds; round++) {
    for (const [index, operation] of operations.entries()) {
      const count = Math.max(BLOCKS, Math.round((round < 0 ? operation.count / 10 : operation.count) * scale))
      const block = Math.ceil(count / BLOCKS)
      yield* prepare(Math.round((2 * operation.fill * count) / operation.count))
      const seconds = { pgmq: 0, pg: 0 }
      for (let turn = 0; turn < BLOCKS; turn++) {
        const order = (round + index + turn) % 2 === 0 ? (["pgmq", "pg"] as const) : (["pg", "pgmq"] as const)
        for (const side of order) seconds[side] += yield* timed[side](operation, block)
      }
      if (round >= 0) {
        rates[index]!.pgmq.push((block * BLOCKS) / seconds.pgmq)
        rates[index]!.pg.push((block * BLOCKS) / seconds.pg)
      }
    }
  }
  yield* Console.log(
    `${"operation".padEnd(26)} ${"Pgmq ops/s".padStart(11)} ${"pg ops/s".padStart(10)} ${"messages/s (Pgmq)".padStart(18)}  Pgmq ÷ pg`
  )
  const ratios: Array<number> = []
  for (const [index, operation] of operations.entries()) {
    const ours = median(rates[index]!.pgmq)
    const bare = median(rates[index]!.pg)
    ratios.push(
      report.ratio(
        `Pgmq ${operation.name}`,
        "ops/s",
        ours,
        { name: "bare pg, same SQL", value: bare },
        { text: "≥ 0.9× pg", min: 0.9 }
      )
    )
    yield* Console.log(
      `${operation.name.padEnd(26)} ${ours.toFixed(0).padStart(11)} ${bare.toFixed(0).padStart(10)} ${(ours * operation.messages).toFixed(0).padStart(18)}  ${(ours / bare).toFixed(2)}×`
    )
  }
  const worst = Math.min(...ratios)
  yield* Console.log(`lowest ratio: ${worst.toFixed(2)}× (goal ≥ 0.90×: ${worst >= 0.9 ? "met" : "NOT met"})`)
  report.write()
})

/** Pgmq on its own client, connected after the scratch database got its settings. */
const Live = Layer.unwrap(
  Effect.gen(function* () {
    const { name, url } = yield* TestDatabase.TestDatabase
    if (!values.durable) {
      const sql = yield* PgClient.PgClient
      yield* sql`ALTER DATABASE ${sql(name)} SET synchronous_commit = off`
    }
    return Pgmq.Pgmq.layerNoDeps.pipe(Layer.provide(PgClient.layer({ url: Redacted.make(url) })))
  })
).pipe(Layer.provideMerge(TestDatabase.layer({ migrations: [Migrations.migrations] })))

NodeRuntime.runMain(program.pipe(Effect.scoped, Effect.provide(Live)))
