// `malformed`: a burst of messages that break the contract in every way the queue package tells
// apart (Contract.Problem: not_json, too_large, unknown_version, invalid), shuffled among valid
// requests. Each malformed one must land once on llm_requests_dlq with its problem — and, when its
// id and reply queue can be read, its sender gets one InvalidMessage error result too; each valid
// one gets its ok result; a request that follows the contract but asks for what the backend cannot
// do is answered with an error (not dead-lettered); and the workers never restart.
import { randomUUID } from "node:crypto"
import { request } from "./fleet.ts"
import { awaitAll, type Scenario } from "./scenario.ts"
import { type Check, ok } from "./tally.ts"

/** The size limit the workers get (NEXUS_QUEUE_MAX_BYTES): small, so an oversize body is cheap. */
const MAX_BYTES = 4096

interface Kind {
  readonly name: string
  /** A fresh body of this kind. */
  readonly body: () => unknown
  /**
   * The problem its dead letter must name, and what its reason must mention (the field at fault);
   * undefined for a request that is not dead-lettered.
   */
  readonly letter?: { readonly problem: string; readonly mentions: string }
  /** Whether its sender is told by a result (an id and a reply queue the worker can read). */
  readonly told: boolean
  /** The check of that result (the default: an InvalidMessage error, not retryable). */
  readonly check?: Check
}

const invalidMessage: Check = (result) =>
  result.status === "error" && result.error?.tag === "InvalidMessage" && result.error.retryable === false
    ? undefined
    : `expected InvalidMessage (not retryable), got ${result.status} ${result.error?.tag ?? ""}`

const withField = (fields: Record<string, unknown>) => () => ({ ...request(), ...fields })
const without = (field: string) => () => {
  const body: Record<string, unknown> = request()
  delete body[field]
  return body
}

/** A malformed kind: the problem its dead letter names, what the reason mentions, whether its sender is told. */
const bad = (name: string, body: () => unknown, problem: string, mentions: string, told: boolean): Kind => ({
  name,
  body,
  letter: { problem, mentions },
  told
})

const notJson = (name: string, body: unknown) => bad(name, () => body, "not_json", `${name}, not a JSON object`, false)

const KINDS: ReadonlyArray<Kind> = [
  notJson("a string", "just a string"),
  notJson("a number", 42),
  notJson("an array", [1, 2, 3]),
  notJson("null", null),
  notJson("a boolean", true),
  bad(
    "oversize",
    withField({ messages: [{ role: "user", content: "x".repeat(MAX_BYTES + 1000) }] }),
    "too_large",
    `over the limit of ${MAX_BYTES}`,
    true
  ),
  bad("version 2", withField({ version: 2 }), "unknown_version", "version 2 ", true),
  bad("version as text", withField({ version: "1" }), "unknown_version", 'version "1" ', true),
  bad("no version", without("version"), "invalid", '["version"]', true),
  bad("no id", without("id"), "invalid", '["id"]', false),
  // Its id can be read (a string), so its sender is told under that id.
  bad("id not a uuid", () => ({ ...request(), id: `not-a-uuid-${randomUUID()}` }), "invalid", '["id"]', true),
  bad("no messages", without("messages"), "invalid", '["messages"]', true),
  bad("no task_type", without("task_type"), "invalid", '["task_type"]', true),
  bad("messages empty", withField({ messages: [] }), "invalid", '["messages"]', true),
  bad("messages a string", withField({ messages: "hello" }), "invalid", '["messages"]', true),
  bad("unknown role", withField({ messages: [{ role: "robot", content: "hi" }] }), "invalid", '["role"]', true),
  bad("unknown complexity", withField({ complexity: "hard" }), "invalid", '["complexity"]', true),
  bad(
    "bad max_output_tokens",
    withField({ options: { max_output_tokens: -1 } }),
    "invalid",
    '["max_output_tokens"]',
    true
  ),
  bad("bad deadline", withField({ deadline: "tomorrow" }), "invalid", '["deadline"]', true),
  // No result can ever reach such a queue: refused before any work, and nobody to tell.
  bad("bad reply_to", withField({ reply_to: "no;such queue" }), "invalid", "reply_to", false),
  // Follows the contract, asks for what the backend cannot do: an error result, no dead letter.
  {
    name: "unsupported content",
    body: withField({ messages: [{ role: "user", content: [{ type: "input_audio", data: "…" }] }] }),
    told: true,
    check: (result) =>
      result.status === "error" && result.error?.tag === "UnsupportedRequest" && result.error.retryable === false
        ? undefined
        : `expected UnsupportedRequest (not retryable), got ${result.status} ${result.error?.tag ?? ""}`
  }
]

/** Fisher–Yates. */
const shuffle = <A>(items: Array<A>) => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

export const malformed: Scenario = {
  name: "malformed",
  limitSeconds: (quick) => (quick ? 30 : 50),
  run: async (context) => {
    const [rounds, valid] = context.quick ? [3, 200] : [10, 600]
    const fleet = await context.fleet({ env: { NEXUS_QUEUE_MAX_BYTES: String(MAX_BYTES) } })
    const workers = await Promise.all([fleet.startWorker([]), fleet.startWorker([])])
    const burst = shuffle([
      ...Array.from({ length: rounds }, () => KINDS).flat(),
      ...Array.from({ length: valid }, () => undefined)
    ]).map((kind) => ({ kind, body: kind === undefined ? request() : kind.body() }))
    // One send_batch: the whole burst arrives at once, malformed and valid interleaved.
    const ids = await fleet.sendRaw(burst.map((entry) => entry.body))
    for (const [index, { kind, body }] of burst.entries()) {
      if (kind?.letter !== undefined) fleet.expectation.deadLetters.set(ids[index]!, kind.letter)
      if (kind === undefined || kind.told) {
        const check = kind === undefined ? ok : (kind.check ?? invalidMessage)
        fleet.expectation.results.set((body as { id: string }).id, check)
      }
    }
    const kinds = new Set(KINDS.flatMap((kind) => (kind.letter === undefined ? [] : [kind.letter.problem])))
    context.note(
      `${KINDS.length} kinds × ${rounds} (${[...kinds].join(", ")}, and a refused unsupported request) among ${valid} valid`
    )
    await awaitAll(context, fleet, 2000)
    // The same processes as at the start (a worker that exited also fails the scenario, in scenario.ts).
    const running = workers.filter((worker) => worker.alive()).map((worker) => worker.pid)
    context.note(`workers ${running.join(", ")} ran throughout`)
  }
}
