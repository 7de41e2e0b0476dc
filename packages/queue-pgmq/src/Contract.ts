/**
 * The LLM request/result contract, version 1 (design §4), as Schema: what agents put on
 * `llm_requests` and what they read back from their reply queue. Fields are snake_case as they
 * travel; fields this version does not know are kept, so that newer producers pass through.
 *
 * @since 0.1.0
 */
import { Predicate, Result, Schema } from "effect"
import * as QueueName from "./QueueName.ts"

/**
 * The queue agents send requests to.
 *
 * @since 0.1.0
 * @category constants
 */
export const REQUESTS = "llm_requests"

/**
 * Where results go when a request names no `reply_to`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_REPLY_TO = "llm_results"

/**
 * Where requests that cannot be served as sent go, with the reason (a pgmq queue: any pgmq
 * tool can read it).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEAD_LETTERS = "llm_requests_dlq"

/**
 * The largest request body accepted by default, in bytes of JSON (1 MiB).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_BYTES = 1024 * 1024

const Extra = Schema.Record(Schema.String, Schema.Unknown)
const open = <S extends Schema.Struct<Schema.Struct.Fields>>(schema: S) => Schema.StructWithRest(schema, [Extra])

/**
 * One part of a message's content (`{ type: "text", text }`, an image…).
 *
 * @since 0.1.0
 * @category models
 */
export const ContentPart = open(Schema.Struct({ type: Schema.String }))

/**
 * @since 0.1.0
 * @category models
 */
export type ContentPart = typeof ContentPart.Type

/**
 * One message of the conversation.
 *
 * @since 0.1.0
 * @category models
 */
export const RequestMessage = open(
  Schema.Struct({
    role: Schema.Literals(["system", "developer", "user", "assistant", "tool"]),
    content: Schema.Union([Schema.String, Schema.Array(ContentPart)]),
    tool_call_id: Schema.optional(Schema.String)
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type RequestMessage = typeof RequestMessage.Type

/**
 * How the model should answer.
 *
 * @since 0.1.0
 * @category models
 */
export const RequestOptions = open(
  Schema.Struct({
    reasoning_effort: Schema.optional(Schema.String),
    max_output_tokens: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))),
    temperature: Schema.optional(Schema.Finite),
    tools: Schema.optional(Schema.Array(Schema.Unknown)),
    tool_choice: Schema.optional(Schema.Unknown),
    response_format: Schema.optional(Schema.Unknown)
  })
)

/**
 * A request on `llm_requests` (version 1).
 *
 * @since 0.1.0
 * @category models
 */
export const LlmRequest = open(
  Schema.Struct({
    version: Schema.Literal(1),
    id: Schema.String.check(Schema.isUUID()),
    task_type: Schema.String.check(Schema.isNonEmpty()),
    complexity: Schema.Literals(["simple", "medium", "complex"]),
    messages: Schema.Array(RequestMessage).check(Schema.isMinLength(1)),
    model: Schema.optional(Schema.String),
    account: Schema.optional(Schema.String),
    options: Schema.optional(RequestOptions),
    reply_to: Schema.optional(Schema.String),
    deadline: Schema.optional(Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T/))),
    metadata: Schema.optional(Extra)
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type LlmRequest = typeof LlmRequest.Type

/**
 * A result on a reply queue (version 1): `ok` with the output and usage, or `error` with what
 * went wrong and whether sending the request again may succeed.
 *
 * @since 0.1.0
 * @category models
 */
export const LlmResult = open(
  Schema.Struct({
    version: Schema.Literal(1),
    request_id: Schema.String,
    status: Schema.Literals(["ok", "error"]),
    /** Null when no model was reached (a request that could not be read). */
    model: Schema.NullOr(Schema.String),
    account: Schema.NullOr(Schema.String),
    output: Schema.optional(
      open(Schema.Struct({ text: Schema.String, tool_calls: Schema.optional(Schema.Array(Schema.Unknown)) }))
    ),
    usage: Schema.optional(
      Schema.Struct({
        input_tokens: Schema.Int,
        cached_tokens: Schema.Int,
        output_tokens: Schema.Int,
        reasoning_tokens: Schema.Int
      })
    ),
    error: Schema.optional(
      Schema.Struct({
        tag: Schema.String,
        message: Schema.String,
        retryable: Schema.Boolean,
        resets_at: Schema.optional(Schema.String)
      })
    ),
    attempts: Schema.Int,
    started_at: Schema.String,
    finished_at: Schema.String
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type LlmResult = typeof LlmResult.Type

/**
 * Why a request body cannot be served:
 * - `not_json`: the body is not a JSON object (a string, a number, an array, null);
 * - `too_large`: its JSON is over the size limit;
 * - `unknown_version`: a `version` this worker does not speak;
 * - `invalid`: a field is missing or wrong (the detail names it).
 *
 * @since 0.1.0
 * @category models
 */
export const Problem = Schema.Literals(["not_json", "too_large", "unknown_version", "invalid"])

/**
 * @since 0.1.0
 * @category models
 */
export type Problem = typeof Problem.Type

/**
 * A request that does not follow the contract.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidMessage extends Schema.TaggedError<InvalidMessage>()("InvalidMessage", {
  problem: Problem,
  detail: Schema.String
}) {
  override get message() {
    return `The request does not follow the llm_requests contract (version 1): ${this.detail}.`
  }
}

const decodeRequest = Schema.decodeUnknownResult(LlmRequest)

/**
 * `body` checked against the contract: the request, or why it is refused.
 *
 * @since 0.1.0
 * @category validation
 */
export const parseRequest = (body: unknown, maxBytes: number = DEFAULT_MAX_BYTES): LlmRequest | InvalidMessage => {
  if (!Predicate.isObject(body) || Array.isArray(body)) {
    const kind = body === null ? "null" : Array.isArray(body) ? "an array" : `a ${typeof body}`
    return new InvalidMessage({ problem: "not_json", detail: `the body is ${kind}, not a JSON object` })
  }
  const bytes = Buffer.byteLength(JSON.stringify(body))
  if (bytes > maxBytes) {
    return new InvalidMessage({
      problem: "too_large",
      detail: `the body is ${bytes} bytes, over the limit of ${maxBytes} (NEXUS_QUEUE_MAX_BYTES)`
    })
  }
  if ("version" in body && body.version !== 1) {
    return new InvalidMessage({
      problem: "unknown_version",
      detail: `version ${JSON.stringify(body.version)} is not supported (this worker reads version 1)`
    })
  }
  const decoded = decodeRequest(body)
  if (Result.isFailure(decoded)) {
    return new InvalidMessage({ problem: "invalid", detail: decoded.failure.message.replace(/\s+/g, " ").trim() })
  }
  // A reply queue no result could ever be sent to: refused before any work is done for it.
  const replyTo = decoded.success.reply_to
  const name = replyTo === undefined ? undefined : QueueName.make(replyTo)
  if (name !== undefined && typeof name !== "string") {
    return new InvalidMessage({ problem: "invalid", detail: `reply_to: ${name.message}` })
  }
  return decoded.success
}

/**
 * What can be recovered from a body that failed the contract: its request id and reply queue,
 * when they look right, so that its sender can be told.
 *
 * @since 0.1.0
 * @category validation
 */
export const recoverable = (body: unknown): { readonly id: string; readonly replyTo: string } | undefined => {
  if (!Predicate.isObject(body) || !("id" in body) || !Predicate.isString(body.id) || body.id.length === 0) {
    return undefined
  }
  const replyTo = "reply_to" in body ? body.reply_to : DEFAULT_REPLY_TO
  return Predicate.isString(replyTo) && replyTo.length > 0 ? { id: body.id, replyTo } : undefined
}
