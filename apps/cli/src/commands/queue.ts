/**
 * `nexus queue`: the LLM request queue from the command line — send a request (and wait for its
 * result), every queue's figures, purge a queue, and the dead letters (list, retry).
 *
 * @since 0.1.0
 */
import { Contract, LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import { Console, Effect, Option, type Schema } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import { NoDeadLetter } from "../Errors.ts"
import * as Flags from "../internal/flags.ts"
import { ago } from "../internal/format.ts"
import { promptOf, readInput } from "../internal/prompt.ts"
import { QueueLive } from "../Services.ts"
import { requestFlags } from "./route.ts"

const optional = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const parseJson = (text: string, source: string) =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: () => new CliError.ValidationError({ message: `${source} is not JSON` })
  })

const send = Command.make(
  "send",
  {
    message: Argument.String("message").pipe(
      Argument.withDescription("What to ask; - reads it from stdin"),
      Argument.optional
    ),
    file: optional("file", "Read what to ask from this file"),
    request: optional(
      "request",
      "Send this JSON request as it is (a file, or - for stdin); id and version are filled in when missing"
    ),
    task: requestFlags.task,
    complexity: requestFlags.complexity,
    effort: requestFlags.effort,
    model: optional("model", "Ask this model"),
    account: optional("account", "Ask on this account (id or label)"),
    system: optional("system", "A system message before the prompt"),
    replyTo: optional("reply-to", `The queue the result goes to (default ${Contract.DEFAULT_REPLY_TO})`),
    wait: Flag.Int("wait").pipe(
      Flag.withDescription("Wait this many seconds for the result and print it"),
      Flag.optional
    ),
    json: Flags.json("the request's ids (and the result, with --wait)")
  },
  Effect.fn("nexus.queue.send")(function* (input) {
    const queue = yield* LlmQueue.LlmQueue
    const body: Record<string, unknown> = Option.isSome(input.request)
      ? ((yield* parseJson(
          yield* readInput(input.request.value, "--request"),
          `--request ${input.request.value}`
        )) as Record<string, unknown>)
      : {
          task_type: input.task,
          complexity: input.complexity,
          messages: [
            ...(Option.isSome(input.system) ? [{ role: "system", content: input.system.value }] : []),
            { role: "user", content: yield* promptOf(input.message, input.file) }
          ],
          ...(Option.isSome(input.model) ? { model: input.model.value } : {}),
          ...(Option.isSome(input.account) ? { account: input.account.value } : {}),
          ...(Option.isSome(input.effort) ? { options: { reasoning_effort: input.effort.value } } : {}),
          ...(Option.isSome(input.replyTo) ? { reply_to: input.replyTo.value } : {})
        }
    const request = { version: 1, id: crypto.randomUUID(), ...body } as Contract.LlmRequest
    const msgId = yield* queue.enqueue(request)
    const replyTo = request.reply_to ?? Contract.DEFAULT_REPLY_TO
    if (Option.isNone(input.wait)) {
      if (input.json)
        return yield* Console.log(JSON.stringify({ requestId: request.id, msgId: String(msgId), replyTo }))
      return yield* Console.log(
        `Sent request ${request.id} (message ${msgId} on ${Contract.REQUESTS}); its result goes to ${replyTo}.`
      )
    }
    const result = yield* queue.awaitResult(request.id, { replyTo, timeout: `${input.wait.value} seconds` })
    if (input.json) {
      return yield* Console.log(JSON.stringify({ requestId: request.id, msgId: String(msgId), replyTo, result }))
    }
    yield* Console.log(
      result.status === "ok"
        ? (result.output?.text ?? "")
        : `The request failed: ${result.error?.message ?? "no reason given"} (${result.error?.tag ?? "error"})`
    )
    yield* Console.error(
      `(${result.model ?? "no model"} on ${result.account ?? "no account"}, ${result.attempts} attempt(s))`
    )
  })
).pipe(
  Command.withDescription("Put an LLM request on llm_requests (from a prompt, or a whole JSON request)"),
  Command.withExamples([
    { command: 'nexus queue send "Summarise RFC 8628" --task chat --complexity simple', description: "Send a prompt" },
    {
      command: "nexus queue send --request request.json --wait 120",
      description: "Send a request and wait for its result"
    },
    {
      command: "git diff | nexus queue send - --task reviewer --json",
      description: "Send stdin, print the ids as JSON"
    }
  ]),
  Command.provide(QueueLive)
)

const stats = Command.make(
  "stats",
  { json: Flags.json("every queue's figures") },
  Effect.fn("nexus.queue.stats")(function* ({ json }) {
    const pgmq = yield* Pgmq.Pgmq
    const installation = yield* pgmq.installation
    const queues = yield* pgmq.metricsAll
    if (json) {
      return yield* Console.log(
        JSON.stringify({
          pgmq: { mode: installation.mode, version: installation.version },
          queues: queues.map((queue) => ({
            queue: queue.queueName,
            length: queue.queueLength,
            visible: queue.queueVisibleLength,
            oldestAgeSeconds: queue.oldestMsgAgeSec,
            newestAgeSeconds: queue.newestMsgAgeSec,
            total: queue.totalMessages
          }))
        })
      )
    }
    yield* Console.log(`pgmq: ${installation.description}`)
    if (queues.length === 0) return yield* Console.log("No queues yet: `nexus db migrate` creates Nexus's.")
    const width = Math.max(5, ...queues.map((queue) => queue.queueName.length))
    yield* Console.log(`${"queue".padEnd(width)}  length  visible  oldest      total`)
    for (const queue of queues) {
      const oldest = queue.oldestMsgAgeSec === null ? "-" : ago(Date.now() - queue.oldestMsgAgeSec * 1000, Date.now())
      yield* Console.log(
        `${queue.queueName.padEnd(width)}  ${String(queue.queueLength).padStart(6)}  ${String(queue.queueVisibleLength).padStart(7)}  ${oldest.padEnd(10)}  ${queue.totalMessages}`
      )
    }
  })
).pipe(
  Command.withDescription("Every queue: messages waiting, visible now, the oldest's age, all ever sent"),
  Command.withExamples([
    { command: "nexus queue stats", description: "See how much work is waiting" },
    { command: "nexus queue stats --json", description: "The same, as JSON" }
  ]),
  Command.provide(QueueLive)
)

const purge = Command.make(
  "purge",
  {
    queue: Argument.String("queue").pipe(Argument.withDescription("The queue to empty (its archive is kept)")),
    json: Flags.json("the number of messages removed")
  },
  Effect.fn("nexus.queue.purge")(function* ({ queue, json }) {
    const pgmq = yield* Pgmq.Pgmq
    const removed = yield* pgmq.purgeQueue(queue)
    if (json) return yield* Console.log(JSON.stringify({ queue, removed }))
    yield* Console.log(`Purged ${queue}: ${removed} message(s) removed (the archive a_${queue.toLowerCase()} is kept).`)
  })
).pipe(
  Command.withDescription("Remove every message from a queue"),
  Command.withExamples([
    { command: "nexus queue purge llm_requests_dlq", description: "Drop every dead letter" },
    { command: "nexus queue purge llm_results --json", description: "Empty a queue, print how many went as JSON" }
  ]),
  Command.provide(QueueLive)
)

const list = Command.make(
  "list",
  { json: Flags.json("the dead letters") },
  Effect.fn("nexus.queue.dlq.list")(function* ({ json }) {
    const queue = yield* LlmQueue.LlmQueue
    const letters = yield* queue.deadLetters
    if (json) {
      return yield* Console.log(JSON.stringify(letters.map((entry) => ({ id: String(entry.msgId), ...entry.letter }))))
    }
    if (letters.length === 0) return yield* Console.log(`${Contract.DEAD_LETTERS} is empty.`)
    for (const { msgId, letter } of letters) {
      yield* Console.log(
        `${msgId}  ${letter.dead_lettered_at}  ${letter.problem}: ${letter.reason} (request message ${letter.original_msg_id}, read ${letter.read_ct} time(s))`
      )
    }
    yield* Console.log(`Put one back with: nexus queue dlq retry ID [--file fixed.json], or all with --all.`)
  })
).pipe(
  Command.withDescription(`The requests in ${Contract.DEAD_LETTERS}, with why`),
  Command.withExamples([
    { command: "nexus queue dlq list", description: "See the dead letters and why each failed" },
    { command: "nexus queue dlq list --json", description: "The same, with their bodies, as JSON" }
  ]),
  Command.provide(QueueLive)
)

const retry = Command.make(
  "retry",
  {
    ids: Argument.String("id").pipe(Argument.withDescription("Dead letter ids (from `dlq list`)"), Argument.variadic()),
    all: Flag.Boolean("all").pipe(Flag.withDescription("Retry every dead letter"), Flag.withDefault(false)),
    file: optional("file", "Send this fixed request instead of the dead letter's body (one id; - for stdin)"),
    json: Flags.json("the dead letters put back and their new message ids")
  },
  Effect.fn("nexus.queue.dlq.retry")(function* ({ ids, all, file, json }) {
    const queue = yield* LlmQueue.LlmQueue
    const parsed = yield* Effect.forEach(ids, (id) =>
      /^\d+$/.test(id)
        ? Effect.succeed(BigInt(id))
        : Effect.fail(
            new CliError.ValidationError({
              message: `${id} is not a dead letter id (a number from \`nexus queue dlq list\`)`
            })
          )
    )
    const body = Option.isSome(file)
      ? yield* Effect.flatMap(readInput(file.value), (text) => parseJson(text, `--file ${file.value}`))
      : undefined
    const retried = yield* queue.retry(all ? "all" : parsed, body as Schema.Json | undefined)
    const missing = parsed.filter((id) => !retried.some((entry) => entry.deadLetter === id))
    if (json) {
      yield* Console.log(
        JSON.stringify({
          retried: retried.map((entry) => ({ id: String(entry.deadLetter), msgId: String(entry.request) })),
          missing: missing.map(String)
        })
      )
    } else {
      for (const entry of retried) {
        yield* Console.log(
          `Dead letter ${entry.deadLetter} is back on ${Contract.REQUESTS} as message ${entry.request}.`
        )
      }
    }
    if (missing.length > 0) {
      return yield* new NoDeadLetter({ ids: missing.map(String) })
    }
    if (retried.length === 0 && !json) yield* Console.log(`${Contract.DEAD_LETTERS} is empty: nothing to retry.`)
  })
).pipe(
  Command.withDescription("Put dead letters back on llm_requests (their body, or a fixed one with --file)"),
  Command.withExamples([
    { command: "nexus queue dlq retry 42", description: "Put one dead letter back as it was" },
    { command: "nexus queue dlq retry 42 --file fixed.json", description: "Put it back with a fixed request" },
    { command: "nexus queue dlq retry --all", description: "Put every dead letter back" }
  ]),
  Command.validate(({ ids, all, file }) =>
    ids.length === 0 && !all
      ? Effect.fail(new CliError.ValidationError({ message: "say which: nexus queue dlq retry ID… or --all" }))
      : ids.length > 0 && all
        ? Effect.fail(new CliError.ValidationError({ message: "give ids or --all, not both" }))
        : Option.isSome(file) && ids.length !== 1
          ? Effect.fail(
              new CliError.ValidationError({ message: "--file replaces one dead letter: give exactly one id" })
            )
          : Effect.void
  ),
  Command.provide(QueueLive)
)

const dlq = Command.make("dlq").pipe(
  Command.withDescription(`The dead letters (${Contract.DEAD_LETTERS})`),
  Command.withExamples([
    { command: "nexus queue dlq list", description: "See the dead letters and why each failed" },
    { command: "nexus queue dlq retry --all", description: "Put every dead letter back" }
  ]),
  Command.withSubcommands([list, retry])
)

/**
 * `nexus queue`.
 *
 * @since 0.1.0
 * @category commands
 */
export const queue = Command.make("queue").pipe(
  Command.withDescription("The LLM request queue (pgmq): send, stats, purge, dead letters"),
  Command.withExamples([
    {
      command: 'nexus queue send "Summarise RFC 8628" --wait 120',
      description: "Send a prompt and wait for its result"
    },
    { command: "nexus queue stats", description: "See how much work is waiting" },
    { command: "nexus queue dlq list", description: "See the requests that could not be served" }
  ]),
  Command.withSubcommands([send, stats, purge, dlq])
)
