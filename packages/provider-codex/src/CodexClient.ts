/**
 * The Codex backend client: a chat request in, the Responses SSE stream out as typed events, with
 * the error and retry behaviour of protocol §7–§8 (first part: chat and stream with 401 recovery,
 * usage limits, rate limits and bounded retries of transient failures; usage windows, the model
 * catalog and zstd bodies follow).
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Credentials } from "@nexus/token-store"
import { Config, Context, Duration, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import { randomUUID } from "node:crypto"
import type * as ChatEvent from "./ChatEvent.ts"
import { makeEventDecoder } from "./ChatEvent.ts"
import { type ChatRequest, toResponsesBody } from "./ChatRequest.ts"
import { makeParser } from "./internal/sse.ts"
import { fromEvent, fromHeaders, type UsageWindow, UsageWindows } from "./UsageWindows.ts"

/**
 * The plan's usage limit is reached: not retried; it resets at `resetsAt`.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageLimitReached extends Schema.TaggedError<UsageLimitReached>()("UsageLimitReached", {
  account: Schema.String,
  plan: Schema.optional(Schema.String),
  /** Unix seconds. */
  resetsAt: Schema.optional(Schema.Finite)
}) {
  override get message() {
    const at = this.resetsAt === undefined ? "later" : `at ${new Date(this.resetsAt * 1000).toISOString()}`
    return `ChatGPT account ${this.account} has reached its ${this.plan ?? ""} usage limit; it resets ${at}. Use another account, or wait.`
  }
}

/**
 * The backend asked to slow down, and the bounded retries did not get through.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfter: Schema.optional(Schema.Finite),
  detail: Schema.String
}) {
  override get message() {
    return `The Codex backend is rate limiting (${this.detail}); try again${this.retryAfter === undefined ? " shortly" : ` in ${this.retryAfter} ms`}.`
  }
}

/**
 * The backend refused the credentials even after one recovery.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  account: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The Codex backend refused the sign-in of ${this.account} (${this.detail}) even after refreshing it: run \`nexus login\` for it.`
  }
}

/**
 * The backend refused the request itself (400): retrying the same request cannot help.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  status: Schema.Finite,
  detail: Schema.String
}) {
  override get message() {
    return `The Codex backend refused the request (HTTP ${this.status}): ${this.detail}`
  }
}

/**
 * The conversation does not fit the model's context window.
 *
 * @since 0.1.0
 * @category errors
 */
export class ContextLengthExceeded extends Schema.TaggedError<ContextLengthExceeded>()("ContextLengthExceeded", {
  detail: Schema.String
}) {
  override get message() {
    return `The conversation is too long for the model's context window (${this.detail}): shorten it or pick a model with a larger window.`
  }
}

/**
 * The backend could not be reached or failed (5xx, overloaded, cut or idle stream), and the
 * bounded retries did not get through.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamUnavailable extends Schema.TaggedError<UpstreamUnavailable>()("UpstreamUnavailable", {
  detail: Schema.String,
  retryAfter: Schema.optional(Schema.Finite)
}) {
  override get message() {
    return `The Codex backend is unavailable: ${this.detail}. Try again shortly.`
  }
}

/**
 * Everything `chat` and `stream` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type CodexError =
  | UsageLimitReached
  | RateLimited
  | Unauthorized
  | InvalidRequest
  | ContextLengthExceeded
  | UpstreamUnavailable
  | Credentials.CredentialsError

/**
 * The outcome of a whole turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatResult {
  readonly text: string
  readonly toolCalls: ReadonlyArray<{ readonly callId: string; readonly name: string; readonly arguments: string }>
  readonly usage: ChatEvent.Usage | undefined
  readonly model: string
  readonly responseId: string
  readonly warnings: ReadonlyArray<string>
  /** The account's usage windows, as the answer's headers (and events) reported them. */
  readonly rateLimits: ReadonlyArray<UsageWindow>
}

/**
 * Client settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly baseUrl: string
  readonly originator: string
  readonly instructions: string
  readonly idleTimeout: Duration.Duration
  /** Attempts of a turn in all (first try included) for transient failures (protocol §8: 6). */
  readonly attempts: number
  readonly baseDelay: Duration.Duration
}

const DEFAULTS: Settings = {
  baseUrl: "https://chatgpt.com/backend-api/codex",
  originator: "codex_cli_rs",
  instructions: "You are a helpful assistant.",
  idleTimeout: Duration.seconds(300),
  attempts: 6,
  baseDelay: Duration.millis(200)
}

/** A failure that may pass: retried (with its delay when the backend gave one) before any delta reached the caller. */
const isTransient = (error: CodexError): error is RateLimited | UpstreamUnavailable =>
  error._tag === "RateLimited" || error._tag === "UpstreamUnavailable"

interface ErrorBody {
  readonly error?: {
    readonly type?: string
    readonly code?: string | null
    readonly message?: string
    readonly plan_type?: string
    readonly resets_at?: number
  }
  readonly detail?: unknown
}

const parseError = (text: string): ErrorBody => {
  try {
    const body: unknown = JSON.parse(text)
    return typeof body === "object" && body !== null ? (body as ErrorBody) : {}
  } catch {
    return {}
  }
}

/**
 * The Codex backend client.
 *
 * @since 0.1.0
 * @category services
 */
export class CodexClient extends Context.Service<
  CodexClient,
  {
    /** The turn as typed events; not retried once a delta has reached the caller (no duplicated text). */
    readonly stream: (request: ChatRequest, account: string) => Stream.Stream<ChatEvent.ChatEvent, CodexError>
    /** The whole turn, retried as a whole on transient failures. */
    readonly chat: (request: ChatRequest, account: string) => Effect.Effect<ChatResult, CodexError>
  }
>()("@nexus/provider-codex/CodexClient") {
  /**
   * The client over Credentials and an HttpClient.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerNoDeps = (
    input: Partial<Settings> = {}
  ): Layer.Layer<CodexClient, never, Credentials.Credentials | HttpClient.HttpClient | UsageWindows> =>
    Layer.effect(CodexClient)(
      Effect.gen(function* () {
        const settings: Settings = { ...DEFAULTS, ...input }
        const credentials = yield* Credentials.Credentials
        const http = yield* HttpClient.HttpClient
        const usage = yield* UsageWindows
        const sessionId = randomUUID()
        /** The windows each answer reported, per account, for the result that follows. */
        const lastWindows = new Map<string, ReadonlyArray<UsageWindow>>()
        const observe = (accountId: string, windows: ReadonlyArray<UsageWindow>) =>
          windows.length === 0
            ? Effect.void
            : Effect.andThen(
                Effect.sync(() => void lastWindows.set(accountId, windows)),
                usage.record(accountId, windows)
              )

        const post = (body: Record<string, unknown>, token: Redacted.Redacted<string>, accountId: string) =>
          HttpClientRequest.post(`${settings.baseUrl}/responses`).pipe(
            HttpClientRequest.setHeaders({
              authorization: `Bearer ${Redacted.value(token)}`,
              "chatgpt-account-id": accountId,
              originator: settings.originator,
              "user-agent": `nexus/0.1.0 (${process.platform}; ${process.arch}) node/${process.versions.node}`,
              "session-id": sessionId,
              accept: "text/event-stream"
            }),
            HttpClientRequest.bodyJsonUnsafe(body),
            http.execute,
            Effect.mapError(
              (cause) => new UpstreamUnavailable({ detail: `no answer (${cause.message.split("\n")[0]})` })
            )
          )

        /** Maps a non-2xx answer to its error (protocol §8). */
        const failure = (response: HttpClientResponse.HttpClientResponse, account: string) =>
          Effect.flatMap(
            Effect.orElseSucceed(response.text, () => ""),
            (text): Effect.Effect<never, CodexError> => {
              const body = parseError(text)
              const detail =
                body.error?.message ?? (typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`)
              const retryAfterHeader = Number(response.headers["retry-after"])
              const retryAfter = Number.isFinite(retryAfterHeader) ? retryAfterHeader * 1000 : undefined
              if (response.status === 429 && body.error?.type === "usage_limit_reached") {
                return Effect.fail(
                  new UsageLimitReached({
                    account,
                    ...(body.error.plan_type ? { plan: body.error.plan_type } : {}),
                    ...(body.error.resets_at !== undefined ? { resetsAt: body.error.resets_at } : {})
                  })
                )
              }
              if (response.status === 429)
                return Effect.fail(new RateLimited({ detail, ...(retryAfter !== undefined ? { retryAfter } : {}) }))
              if (response.status === 401) return Effect.fail(new Unauthorized({ account, detail }))
              if (response.status >= 500)
                return Effect.fail(
                  new UpstreamUnavailable({ detail, ...(retryAfter !== undefined ? { retryAfter } : {}) })
                )
              if (body.error?.code === "context_length_exceeded")
                return Effect.fail(new ContextLengthExceeded({ detail }))
              return Effect.fail(new InvalidRequest({ status: response.status, detail }))
            }
          )

        /** One attempt: the answer's events, with a 401 recovered once. */
        const attempt = (
          request: ChatRequest,
          account: string,
          warnings: Array<string>
        ): Stream.Stream<ChatEvent.ChatEvent, CodexError> =>
          Stream.unwrap(
            Effect.gen(function* () {
              const mapped = toResponsesBody(request, { instructions: settings.instructions })
              warnings.splice(0, warnings.length, ...mapped.warnings)
              for (const warning of mapped.warnings) yield* Effect.logWarning(warning)
              const tokens = yield* credentials.tokens(account)
              let response = yield* post(mapped.body, tokens.accessToken, tokens.accountId)
              if (response.status === 401) {
                const recovered = yield* credentials.recoverUnauthorized(account, tokens.accessToken)
                response = yield* post(mapped.body, recovered, tokens.accountId)
              }
              // Every answer, 429s included, reports the account's usage windows (protocol §8).
              yield* observe(tokens.accountId, fromHeaders(response.headers as Record<string, string>))
              if (response.status < 200 || response.status >= 300) return yield* failure(response, tokens.accountId)
              const parser = makeParser()
              const decoder = makeEventDecoder()
              let completed = false
              /** Maps a `response.failed` to its error (protocol §7). */
              const failedError = (event: ChatEvent.Failed): CodexError => {
                if (event.code === "context_length_exceeded")
                  return new ContextLengthExceeded({ detail: event.message })
                if (event.code === "usage_limit_reached" || event.errorType === "usage_limit_reached") {
                  return new UsageLimitReached({
                    account: tokens.accountId,
                    ...(event.planType ? { plan: event.planType } : {}),
                    ...(event.resetsAt !== undefined ? { resetsAt: event.resetsAt } : {})
                  })
                }
                if (event.code === "insufficient_quota" || event.code === "usage_not_included") {
                  return new InvalidRequest({ status: 200, detail: event.message })
                }
                if (event.code === "rate_limit_exceeded") {
                  return new RateLimited({
                    detail: event.message,
                    ...(event.retryAfter ? { retryAfter: Duration.toMillis(event.retryAfter) } : {})
                  })
                }
                return new UpstreamUnavailable({ detail: `response.failed ${event.code}: ${event.message}` })
              }
              // The hot path: one Effect per network chunk (not per event), plain loops inside.
              const decode = (
                messages: ReadonlyArray<{ readonly event: string | undefined; readonly data: string }>
              ): Effect.Effect<ReadonlyArray<ChatEvent.ChatEvent>, CodexError> => {
                const events: Array<ChatEvent.ChatEvent> = []
                let windows: Array<UsageWindow> | undefined
                for (const message of messages) {
                  const event = decoder.decode(message)
                  if (event === undefined) continue
                  if (event._tag === "MalformedEvent") {
                    return Effect.fail(new UpstreamUnavailable({ detail: `a malformed event (${event.reason})` }))
                  }
                  if (event._tag === "Failed") return Effect.fail(failedError(event))
                  if (event._tag === "Completed") completed = true
                  if (event._tag === "RateLimits") (windows ??= []).push(...fromEvent(event))
                  events.push(event)
                }
                return windows ? Effect.as(observe(tokens.accountId, windows), events) : Effect.succeed(events)
              }
              return response.stream.pipe(
                Stream.mapError(
                  (cause) => new UpstreamUnavailable({ detail: `the stream broke (${cause.message.split("\n")[0]})` })
                ),
                Stream.timeoutOrElse({
                  duration: settings.idleTimeout,
                  orElse: () =>
                    Stream.fail(
                      new UpstreamUnavailable({
                        detail: `no data for ${Duration.format(settings.idleTimeout)} (idle stream)`
                      })
                    )
                }),
                Stream.mapEffect((chunk) => decode(parser.push(chunk))),
                Stream.concat(
                  Stream.fromEffect(
                    Effect.suspend(() =>
                      Effect.filterOrFail(
                        decode(parser.end()),
                        () => completed,
                        () => new UpstreamUnavailable({ detail: "the stream closed before response.completed" })
                      )
                    )
                  )
                ),
                Stream.flattenIterable
              )
            })
          )

        /** Exponential backoff with jitter (protocol §8), or the delay the backend asked for. */
        const delayFor = (error: RateLimited | UpstreamUnavailable, attemptNumber: number) =>
          error.retryAfter !== undefined
            ? Duration.millis(error.retryAfter)
            : Duration.millis(
                Duration.toMillis(settings.baseDelay) * 2 ** (attemptNumber - 1) * (0.9 + Math.random() * 0.2)
              )

        const stream = (request: ChatRequest, account: string): Stream.Stream<ChatEvent.ChatEvent, CodexError> => {
          const run = (attemptNumber: number): Stream.Stream<ChatEvent.ChatEvent, CodexError> => {
            let delivered = false
            return attempt(request, account, []).pipe(
              Stream.tap(() => Effect.sync(() => void (delivered = true))),
              Stream.catch((error: CodexError) =>
                isTransient(error) && !delivered && attemptNumber < settings.attempts
                  ? Stream.unwrap(Effect.as(Effect.sleep(delayFor(error, attemptNumber)), run(attemptNumber + 1)))
                  : Stream.fail(error)
              )
            )
          }
          return run(1)
        }

        const chat = Effect.fn("CodexClient.chat")(function* (request: ChatRequest, account: string) {
          const warnings: Array<string> = []
          const once = Effect.gen(function* () {
            let text = ""
            let deltas = ""
            let responseId = ""
            let tokenUsage: ChatEvent.Usage | undefined
            const toolCalls: Array<{ callId: string; name: string; arguments: string }> = []
            yield* Stream.runForEach(attempt(request, account, warnings), (event) =>
              Effect.sync(() => {
                switch (event._tag) {
                  case "TextDelta":
                    deltas += event.delta
                    break
                  case "ToolCallDone":
                    toolCalls.push({ callId: event.callId, name: event.name, arguments: event.arguments })
                    break
                  case "OutputItemDone":
                    // The final text is the finished message's, not the deltas' (protocol §7, §12.8).
                    if (event.item.type === "message") {
                      text += event.item.content
                        .flatMap((part) => (part.type === "output_text" ? [part.text] : []))
                        .join("")
                    }
                    break
                  case "Completed":
                    responseId = event.responseId
                    tokenUsage = event.usage
                    break
                  default:
                    break
                }
              })
            )
            const accountId = (yield* credentials.tokens(account)).accountId
            return {
              text: text.length > 0 ? text : deltas,
              toolCalls,
              usage: tokenUsage,
              model: request.model,
              responseId,
              warnings,
              rateLimits: lastWindows.get(accountId) ?? []
            } satisfies ChatResult
          })
          const run = (attemptNumber: number): Effect.Effect<ChatResult, CodexError> =>
            Effect.catchIf(
              once,
              (error): error is RateLimited | UpstreamUnavailable =>
                isTransient(error) && attemptNumber < settings.attempts,
              (error) => Effect.andThen(Effect.sleep(delayFor(error, attemptNumber)), run(attemptNumber + 1))
            )
          return yield* run(1)
        })

        return CodexClient.of({ stream, chat })
      })
    )

  /**
   * The client on Node's HTTP stack, `CODEX_BASE_URL` from the environment.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = Layer.unwrap(
    Effect.map(Config.option(Config.String("CODEX_BASE_URL")), (baseUrl) =>
      CodexClient.layerNoDeps(Option.isSome(baseUrl) ? { baseUrl: baseUrl.value } : {})
    )
  ).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.provide(UsageWindows.layer))
}
