/**
 * The Codex backend client: a chat request in, the Responses SSE stream out as typed events, with
 * the error and retry behaviour of protocol §7–§8: the model resolved through the catalog before
 * anything is sent, 401 recovery through Credentials, usage limits, rate limits and bounded
 * retries of transient failures on an Effect `Schedule`, an idle limit, usage windows kept for the
 * fleet, and optional zstd request bodies.
 *
 * @since 0.1.0
 */
import { NodeHttpClient } from "@effect/platform-node"
import type { PgClient } from "@effect/sql-pg"
import type { Errors as DatabaseErrors } from "@nexus/database"
import { type Errors as OAuthErrors, OAuthConfig } from "@nexus/oauth"
import { Credentials } from "@nexus/token-store"
import type { Pull } from "effect"
import {
  Array as Arr,
  Cause,
  Channel,
  Config,
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema,
  Scope,
  Stream
} from "effect"
import { randomUUID } from "node:crypto"
import { arch, release, type } from "node:os"
import { finished } from "node:stream"
import { zstdCompressSync } from "node:zlib"
import packageJson from "../package.json" with { type: "json" }
import type * as ChatEvent from "./ChatEvent.ts"
import { makeEventDecoder, retryAfterFromMessage } from "./ChatEvent.ts"
import { type ChatRequest, toResponsesBody } from "./ChatRequest.ts"
import { makeParser, type SseMessage } from "./internal/sse.ts"
import * as Transport from "./internal/transport.ts"
import { type CatalogUnavailable, type ModelInfo, ModelCatalog, type UnknownModel } from "./ModelCatalog.ts"
import {
  type Credits,
  creditsFromHeaders,
  fromEvent,
  fromHeaders,
  type UsageWindow,
  UsageWindows,
  type UsageWindowsUnavailable
} from "./UsageWindows.ts"

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
    return `The Codex backend is rate limiting (${this.detail}); try again${this.retryAfter === undefined ? " shortly" : ` in ${humanDelay(this.retryAfter)}`}.`
  }
}

/** A wait in the units a person reads: "45 s", "3 min 20 s", "2 h 5 min". */
const humanDelay = (ms: number): string => {
  const seconds = Math.ceil(ms / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`
  const hours = Math.floor(minutes / 60)
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
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
  | UnknownModel
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
  /** The reasoning summary the model wrote (asked for with `reasoningSummary`), else "". */
  readonly reasoningSummary: string
  readonly usage: ChatEvent.Usage | undefined
  /** The catalog slug the request went to (an alias resolved). */
  readonly model: string
  readonly responseId: string
  readonly warnings: ReadonlyArray<string>
  /** The account's usage windows, as the answer's headers (and events) reported them. */
  readonly rateLimits: ReadonlyArray<UsageWindow>
  /** The account's credits, when the answer reported them. */
  readonly credits: Credits | undefined
}

/**
 * Client settings; every limit of protocol §8 is here.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly baseUrl: string
  readonly originator: string
  /** The default names Nexus, its version, the OS and the originator. */
  readonly userAgent: string
  /** The base prompt when a request has none: the backend requires `instructions`. */
  readonly instructions: string
  /** How long the backend may stay silent (before its headers, or between chunks). */
  readonly idleTimeout: Duration.Duration
  /** Attempts of a turn in all (first try included) for transient failures (protocol §8: 6). */
  readonly attempts: number
  /** The first backoff delay; it doubles per attempt, with ±20% jitter. */
  readonly baseDelay: Duration.Duration
  /** No backoff delay is longer than this. */
  readonly maxDelay: Duration.Duration
  /** A Retry-After (or "try again in …") longer than this is not waited for: the error is returned. */
  readonly maxRetryAfter: Duration.Duration
  /** Compress request bodies with zstd (`content-encoding: zstd`), as newer Codex CLIs do. */
  readonly zstd: boolean
}

/**
 * The User-Agent Nexus sends, in the Codex CLI's format (protocol §6.2):
 * `nexus/<version> (<os> <release>; <arch>) node/<version> (<originator>)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const userAgentFor = (originator: string): string =>
  `nexus/${packageJson.version} (${type()} ${release()}; ${arch()}) node/${process.versions.node} (${originator})`

/**
 * The defaults: the public backend, the Codex CLI's originator and protocol §8's limits.
 *
 * @since 0.1.0
 * @category models
 */
export const defaults: Omit<Settings, "userAgent"> = {
  baseUrl: "https://chatgpt.com/backend-api/codex",
  originator: "codex_cli_rs",
  instructions: "You are a helpful assistant.",
  idleTimeout: Duration.seconds(300),
  attempts: 6,
  baseDelay: Duration.millis(200),
  maxDelay: Duration.seconds(30),
  maxRetryAfter: Duration.seconds(60),
  zstd: false
}

/** A failure that may pass when tried again (after the backend's delay when it gave one). */
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

/** Maps a `response.failed` event to its error (protocol §7). */
const failedError = (event: ChatEvent.Failed, account: string): CodexError => {
  if (event.code === "context_length_exceeded") return new ContextLengthExceeded({ detail: event.message })
  if (event.code === "usage_limit_reached" || event.errorType === "usage_limit_reached") {
    return new UsageLimitReached({
      account,
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

/** Maps a non-2xx answer and its body to its error (protocol §8). */
const statusError = (
  status: number,
  headers: Transport.Answer["headers"],
  text: string,
  account: string
): CodexError => {
  const body = parseError(text)
  const detail = body.error?.message ?? (typeof body.detail === "string" ? body.detail : `HTTP ${status}`)
  const retryAfterHeader = Number(headers["retry-after"])
  const retryAfter =
    headers["retry-after"] !== undefined && Number.isFinite(retryAfterHeader)
      ? retryAfterHeader * 1000
      : Option.match(Option.fromUndefinedOr(body.error?.message), {
          onNone: () => undefined,
          onSome: (message) => {
            const delay = retryAfterFromMessage(message)
            return delay === undefined ? undefined : Duration.toMillis(delay)
          }
        })
  const withDelay = retryAfter === undefined ? {} : { retryAfter }
  if (status === 429 && (body.error?.type === "usage_limit_reached" || body.error?.code === "usage_limit_reached")) {
    return new UsageLimitReached({
      account,
      ...(body.error.plan_type ? { plan: body.error.plan_type } : {}),
      ...(body.error.resets_at !== undefined ? { resetsAt: body.error.resets_at } : {})
    })
  }
  if (status === 429) return new RateLimited({ detail, ...withDelay })
  if (status === 401) return new Unauthorized({ account, detail })
  if (status >= 500 || status === 408) return new UpstreamUnavailable({ detail, ...withDelay })
  if (body.error?.code === "context_length_exceeded") return new ContextLengthExceeded({ detail })
  return new InvalidRequest({ status, detail })
}

/** The body of an answer that ended the wait for events: destroyed by its idle timer. */
class IdleTimeout extends globalThis.Error {}

/** What a turn's attempts tell the turn besides their events. */
interface Sink {
  /** The ChatGPT account id behind the requested account (id or label). */
  accountId: string
  /** An event with content (not just `Created` or `RateLimits`) has reached the caller. */
  delivered: boolean
}

const hasContent = (events: ReadonlyArray<ChatEvent.ChatEvent>) => {
  for (const event of events) if (event._tag !== "Created" && event._tag !== "RateLimits") return true
  return false
}

/** The request, mapped and encoded once for all its attempts. */
interface Prepared {
  readonly model: string
  readonly body: string | Uint8Array
  readonly warnings: ReadonlyArray<string>
}

/**
 * The settings from the environment: `CODEX_BASE_URL`, `CODEX_ORIGINATOR`,
 * `NEXUS_CODEX_INSTRUCTIONS`, `NEXUS_CODEX_IDLE_TIMEOUT` (e.g. "300 seconds"),
 * `NEXUS_CODEX_ATTEMPTS`, `NEXUS_CODEX_ZSTD` (true/false) and `NEXUS_MODEL_ALIASES`
 * ("gpt-4o=gpt-5.5,o1=gpt-5.5", merged over the catalog's defaults).
 *
 * @since 0.1.0
 * @category config
 */
export const settingsConfig = Config.all({
  baseUrl: Config.String("CODEX_BASE_URL").pipe(Config.withDefault(defaults.baseUrl)),
  originator: Config.String("CODEX_ORIGINATOR").pipe(Config.withDefault(defaults.originator)),
  instructions: Config.String("NEXUS_CODEX_INSTRUCTIONS").pipe(Config.withDefault(defaults.instructions)),
  idleTimeout: Config.Duration("NEXUS_CODEX_IDLE_TIMEOUT").pipe(Config.withDefault(defaults.idleTimeout)),
  attempts: Config.Int("NEXUS_CODEX_ATTEMPTS").pipe(
    Config.map((attempts) => Math.max(1, attempts)),
    Config.withDefault(defaults.attempts)
  ),
  zstd: Config.Boolean("NEXUS_CODEX_ZSTD").pipe(Config.withDefault(defaults.zstd)),
  aliases: Config.Record(Schema.String, Schema.String, "NEXUS_MODEL_ALIASES", { trim: true }).pipe(
    Config.withDefault({})
  )
})

/**
 * The Codex backend client.
 *
 * @since 0.1.0
 * @category services
 */
export class CodexClient extends Context.Service<
  CodexClient,
  {
    /**
     * The turn as typed events, pulled as the caller consumes them (backpressure). Retried while
     * nothing but `Created`/`RateLimits` has reached the caller; never once a delta has (no
     * duplicated text).
     */
    readonly stream: (request: ChatRequest, account: string) => Stream.Stream<ChatEvent.ChatEvent, CodexError>
    /** The whole turn, retried as a whole on transient failures. */
    readonly chat: (request: ChatRequest, account: string) => Effect.Effect<ChatResult, CodexError>
    /** The model catalog as `account` sees it (see `ModelCatalog.models`). */
    readonly models: (account: string) => Effect.Effect<ReadonlyArray<ModelInfo>>
  }
>()("@nexus/provider-codex/CodexClient") {
  /**
   * The client over Credentials, an undici Dispatcher (`NodeHttpClient.Dispatcher`, shared with
   * `NodeHttpClient.layerUndici`), the usage windows and the model catalog.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerNoDeps = (
    input: Partial<Settings> = {}
  ): Layer.Layer<
    CodexClient,
    never,
    Credentials.Credentials | NodeHttpClient.Dispatcher | UsageWindows | ModelCatalog
  > => Layer.effect(CodexClient)(make(input))

  /**
   * The client configured from the environment (see {@link settingsConfig}), on Node's undici
   * stack, with usage windows and the model catalog in Postgres.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    CodexClient,
    | CatalogUnavailable
    | UsageWindowsUnavailable
    | DatabaseErrors.SchemaNotReady
    | OAuthErrors.InsecureEndpoint
    | Config.ConfigError,
    Credentials.Credentials | PgClient.PgClient
  > = Layer.unwrap(
    Effect.gen(function* () {
      const { aliases, ...settings } = yield* settingsConfig
      // Tokens go to the base URL: https, or http to this machine only (the emulator).
      yield* OAuthConfig.requireHttps("CODEX_BASE_URL", settings.baseUrl)
      return CodexClient.layerNoDeps(settings).pipe(
        Layer.provide(
          ModelCatalog.layer({ baseUrl: settings.baseUrl, originator: settings.originator, aliases }).pipe(
            Layer.provide(NodeHttpClient.layerUndiciNoDispatcher)
          )
        ),
        Layer.provide(UsageWindows.layer)
      )
    })
  ).pipe(Layer.provide(NodeHttpClient.layerDispatcher))
}

const make = Effect.fnUntraced(function* (given: Partial<Settings>) {
  const settings: Settings = {
    ...defaults,
    ...given,
    userAgent: given.userAgent ?? userAgentFor(given.originator ?? defaults.originator)
  }
  const credentials = yield* Credentials.Credentials
  const dispatcher = yield* NodeHttpClient.Dispatcher
  const usage = yield* UsageWindows
  const catalog = yield* ModelCatalog
  const responsesUrl = new URL(`${settings.baseUrl}/responses`)
  const sessionId = randomUUID()
  // Node's timers and undici take at most 2^31-1 ms (24.8 days); longer (or infinite) means that.
  const idleMillis = Math.min(Math.max(1, Duration.toMillis(settings.idleTimeout)), 2 ** 31 - 1)
  const idleError = () =>
    new UpstreamUnavailable({ detail: `no data for ${Duration.format(settings.idleTimeout)} (idle stream)` })

  /** The windows and credits each account's last answer reported, for the results that follow. */
  const lastWindows = new Map<string, ReadonlyArray<UsageWindow>>()
  const lastCredits = new Map<string, Credits>()
  const observe = (accountId: string, windows: ReadonlyArray<UsageWindow>): Effect.Effect<void> => {
    if (windows.length === 0) return Effect.void
    lastWindows.set(accountId, windows)
    return usage.record(accountId, windows)
  }

  const prepare = (request: ChatRequest): Effect.Effect<Prepared, UnknownModel> =>
    Effect.flatMap(catalog.resolve(request.model), (info) => {
      const mapped = toResponsesBody(
        { ...request, model: info.slug },
        {
          instructions: settings.instructions,
          ...(info.supported_reasoning_levels === undefined
            ? {}
            : { efforts: info.supported_reasoning_levels.map((level) => level.effort) })
        }
      )
      const json = JSON.stringify(mapped.body)
      const prepared: Prepared = {
        model: info.slug,
        body: settings.zstd ? zstdCompressSync(json) : json,
        warnings: mapped.warnings
      }
      return mapped.warnings.length === 0
        ? Effect.succeed(prepared)
        : Effect.as(
            Effect.forEach(mapped.warnings, (warning) => Effect.logWarning(warning), { discard: true }),
            prepared
          )
    })

  /**
   * POSTs the request. The answer's body belongs to `owned` from the moment it exists, so that
   * whoever owns the list destroys it however the attempt ends (an interruption included).
   */
  const post = (prepared: Prepared, token: Redacted.Redacted<string>, accountId: string, owned: Owned) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.map(
        restore(
          Transport.post(
            dispatcher,
            responsesUrl,
            {
              authorization: `Bearer ${Redacted.value(token)}`,
              "chatgpt-account-id": accountId,
              originator: settings.originator,
              "user-agent": settings.userAgent,
              "session-id": sessionId,
              accept: "text/event-stream",
              "content-type": "application/json",
              ...(settings.zstd ? { "content-encoding": "zstd" } : {})
            },
            prepared.body,
            idleMillis
          )
        ),
        (answer) => {
          owned.push(answer.body)
          return answer
        }
      )
    ).pipe(
      Effect.mapError((failure) =>
        failure.idle ? idleError() : new UpstreamUnavailable({ detail: `no answer (${failure.detail})` })
      )
    )

  /** Reads a refused answer's body (at most 64 KiB, within the idle limit) for its error. */
  const refused = (answer: Transport.Answer, accountId: string): Effect.Effect<never, CodexError> =>
    Effect.flatMap(
      Effect.promise(() => Transport.readText(answer.body, 64 * 1024)).pipe(
        Effect.timeoutOrElse({ duration: idleMillis, orElse: () => Effect.succeed("") })
      ),
      (text) => Effect.fail(statusError(answer.status, answer.headers, text, accountId))
    )

  /** One request: a 401 recovered once through Credentials; the answer's windows kept. */
  const send = Effect.fnUntraced(function* (prepared: Prepared, account: string, sink: Sink, owned: Owned) {
    const tokens = yield* credentials.tokens(account)
    sink.accountId = tokens.accountId
    let answer = yield* post(prepared, tokens.accessToken, tokens.accountId, owned)
    if (answer.status === 401) {
      answer.body.destroy()
      const recovered = yield* credentials.recoverUnauthorized(account, tokens.accessToken)
      answer = yield* post(prepared, recovered, tokens.accountId, owned)
    }
    // Every answer, 429s included, reports the account's usage windows (protocol §8).
    yield* observe(tokens.accountId, fromHeaders(answer.headers))
    const credits = creditsFromHeaders(answer.headers)
    if (credits !== undefined) lastCredits.set(tokens.accountId, credits)
    if (answer.status < 200 || answer.status >= 300) return yield* refused(answer, tokens.accountId)
    return answer
  })

  const broke = (cause: unknown) =>
    cause instanceof IdleTimeout
      ? idleError()
      : new UpstreamUnavailable({
          detail: `the stream broke (${cause instanceof globalThis.Error ? cause.message.split("\n")[0] : String(cause)})`
        })

  /** Fails with `error`, after keeping the windows the answer reported before it. */
  const failWith = (reader: Reader, error: CodexError) => {
    const windows = reader.takeWindows()
    return windows === undefined
      ? Effect.fail(error)
      : Effect.andThen(observe(reader.accountId, windows), Effect.fail(error))
  }

  /** Backoff with jitter, bounded; the backend's own delay when it gave one (protocol §8). */
  const retryPolicy = Schedule.exponential(settings.baseDelay).pipe(
    Schedule.setInputType<CodexError>(),
    Schedule.jittered,
    Schedule.while(
      ({ input, attempt }) =>
        attempt < settings.attempts &&
        isTransient(input) &&
        (input.retryAfter === undefined || input.retryAfter <= Duration.toMillis(settings.maxRetryAfter))
    ),
    Schedule.modifyDelay(({ input, duration, attempt }) => {
      const delay =
        isTransient(input) && input.retryAfter !== undefined
          ? Duration.millis(input.retryAfter)
          : Duration.min(duration, settings.maxDelay)
      return Effect.as(
        Effect.logDebug("retrying the Codex request", {
          attempt: attempt + 1,
          of: settings.attempts,
          after: Duration.format(delay),
          reason: input.message
        }),
        delay
      )
    })
  )

  /**
   * One turn's retry decision: after a failed attempt, waits the schedule's delay and succeeds, or
   * fails with the attempt's error when the schedule gives up. The schedule is built at the first
   * failure, so a turn that succeeds at once pays nothing for it.
   */
  const makeRetry = () => {
    let step: ((error: CodexError) => Pull.Pull<unknown, never, unknown>) | undefined
    return (error: CodexError): Effect.Effect<void, CodexError> =>
      Effect.flatMap(
        step === undefined
          ? Effect.map(Schedule.toStepWithSleep(retryPolicy), (made) => (step = made))
          : Effect.succeed(step),
        (next) => Effect.matchEffect(next(error), { onFailure: () => Effect.fail(error), onSuccess: () => Effect.void })
      )
  }

  /**
   * The pull of one answer's events, as the caller consumes them. The hot path: one pull per
   * network chunk, parsed and decoded by plain loops. `Created` and `RateLimits` are held back
   * until the first event with content, so an attempt that fails before any content can be retried
   * without the caller ever seeing a second `Created`. The idle limit is one timer that only counts
   * while a pull waits for the network, not while the caller is busy.
   */
  const answerPull = (answer: Transport.Answer, sink: Sink, owned: Owned): Pulled => {
    const body = answer.body
    let pulling = false
    const idle = setTimeout(function onIdle() {
      if (pulling) body.destroy(new IdleTimeout())
      else idle.refresh()
    }, idleMillis)
    owned.push({ destroy: () => void clearTimeout(idle) })
    const reader = makeReader(sink.accountId)
    const iterator = body[Symbol.asyncIterator]()
    const next = Effect.tryPromise({
      try: () => {
        pulling = true
        idle.refresh()
        return iterator.next()
      },
      catch: broke
    })
    let held: Array<ChatEvent.ChatEvent> | undefined = []
    const emit = (
      out: Array<ChatEvent.ChatEvent> | CodexError
    ): Effect.Effect<Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent>, CodexError> | undefined => {
      if (!Array.isArray(out)) return failWith(reader, out)
      if (held !== undefined) {
        if (!hasContent(out) && !reader.completed) {
          held.push(...out)
          return undefined
        }
        out = held.length === 0 ? out : [...held, ...out]
        held = undefined
        sink.delivered = true
      }
      if (!Arr.isArrayNonEmpty(out)) return undefined
      const windows = reader.takeWindows()
      return windows === undefined ? Effect.succeed(out) : Effect.as(observe(sink.accountId, windows), out)
    }
    let ended = false
    const pull: Pulled = Effect.matchEffect(next, {
      onFailure: (error): Pulled => {
        pulling = false
        // Once the turn is complete, a connection that breaks or idles is of no concern.
        if (!reader.completed) return failWith(reader, error)
        ended = true
        return emit(reader.end()) ?? Cause.done()
      },
      onSuccess: (result): Pulled => {
        pulling = false
        if (ended) return Cause.done()
        if (result.done === true) {
          ended = true
          return emit(reader.end()) ?? Cause.done()
        }
        return emit(reader.push(result.value)) ?? pull
      }
    })
    return pull
  }

  /**
   * A turn's events: attempts until one gets content through. A failure before any content closes
   * the attempt, asks the schedule (built at the first failure; it sleeps the delay) and starts the
   * next attempt in the same stream; after content, failures go to the caller.
   */
  const turnEvents = (prepared: Prepared, account: string): Stream.Stream<ChatEvent.ChatEvent, CodexError> =>
    Stream.fromChannel(
      Channel.fromTransform((_, scope) => {
        const owned: Owned = []
        const sink: Sink = { accountId: account, delivered: false }
        const retryAfter = makeRetry()
        let current: Pulled | undefined
        const start: Pulled = Effect.flatMap(send(prepared, account, sink, owned), (answer) => {
          current = answerPull(answer, sink, owned)
          return current
        })
        const retry = (error: CodexError): Pulled => {
          if (sink.delivered) return Effect.fail(error)
          destroyAll(owned)
          current = undefined
          return Effect.andThen(retryAfter(error), pull)
        }
        const pull: Pulled = Effect.catchIf(
          Effect.suspend(() => current ?? start),
          (error): error is CodexError => !Cause.isDone(error),
          retry
        )
        return Effect.as(
          Scope.addFinalizer(
            scope,
            Effect.sync(() => destroyAll(owned))
          ),
          pull
        )
      })
    )

  /**
   * One attempt read whole into `turn`, without a Stream: chunks are handled as the socket
   * delivers them (a turn's result is small, so reading ahead is harmless). Every body the attempt
   * got is destroyed however it ends.
   */
  const read = (prepared: Prepared, account: string, sink: Sink, turn: Turn): Effect.Effect<void, CodexError> => {
    const owned: Owned = []
    return Effect.ensuring(
      Effect.flatMap(send(prepared, account, sink, owned), (answer) => consume(answer, sink.accountId, turn)),
      Effect.sync(() => destroyAll(owned))
    )
  }

  const consume = (answer: Transport.Answer, accountId: string, turn: Turn): Effect.Effect<void, CodexError> =>
    Effect.callback<void, CodexError>((resume) => {
      const body = answer.body
      const reader = makeReader(accountId)
      const idle = setTimeout(() => body.destroy(new IdleTimeout()), idleMillis)
      const settle = (effect: Effect.Effect<void, CodexError>) => {
        clearTimeout(idle)
        body.off("readable", onReadable)
        stopWatching()
        resume(effect)
      }
      const succeed = () => {
        const windows = reader.takeWindows()
        settle(windows === undefined ? Effect.void : observe(accountId, windows))
      }
      // `read()` hands over everything buffered at once: fewer, larger chunks than "data" events.
      const onReadable = () => {
        for (let chunk = body.read() as Uint8Array | null; chunk !== null; chunk = body.read() as Uint8Array | null) {
          idle.refresh()
          const out = reader.push(chunk)
          if (!Array.isArray(out)) return settle(failWith(reader, out))
          turn.add(out)
        }
      }
      body.on("readable", onReadable)
      // `finished` also reports a body that ended or broke before this point.
      const stopWatching = finished(body, (error) => {
        // Once the turn is complete, a connection that breaks or idles is of no concern.
        if (error !== undefined && error !== null && !reader.completed) return settle(failWith(reader, broke(error)))
        const out = reader.end()
        if (!Array.isArray(out)) return settle(failWith(reader, out))
        turn.add(out)
        succeed()
      })
      // Interrupted: the timer goes; `read` destroys the body.
      return Effect.sync(() => {
        clearTimeout(idle)
        stopWatching()
      })
    })

  const stream = (request: ChatRequest, account: string): Stream.Stream<ChatEvent.ChatEvent, CodexError> =>
    Stream.unwrap(Effect.map(prepare(request), (prepared) => turnEvents(prepared, account)))

  const chat = Effect.fnUntraced(function* (request: ChatRequest, account: string) {
    const prepared = yield* prepare(request)
    const sink: Sink = { accountId: account, delivered: false }
    const retryAfter = makeRetry()
    const attempt: Effect.Effect<Turn, CodexError> = Effect.suspend(() => {
      const turn = new Turn()
      return Effect.as(read(prepared, account, sink, turn), turn)
    }).pipe(Effect.catch((error) => Effect.andThen(retryAfter(error), attempt)))
    const turn = yield* attempt
    return {
      text: turn.text.length > 0 ? turn.text : turn.deltas,
      toolCalls: turn.toolCalls,
      reasoningSummary: turn.summary,
      usage: turn.usage,
      model: prepared.model,
      responseId: turn.responseId,
      warnings: prepared.warnings,
      rateLimits: lastWindows.get(sink.accountId) ?? [],
      credits: lastCredits.get(sink.accountId)
    } satisfies ChatResult
  })

  return CodexClient.of({ stream, chat, models: catalog.models })
})

/** The events of one answer, chunk by chunk: SSE parsing and event decoding, failures mapped. */
interface Reader {
  readonly accountId: string
  /** `response.completed` has been seen: what follows cannot fail the turn. */
  readonly completed: boolean
  readonly push: (chunk: Uint8Array) => Array<ChatEvent.ChatEvent> | CodexError
  /** The last events; a stream that ends without `response.completed` is a retryable failure. */
  readonly end: () => Array<ChatEvent.ChatEvent> | CodexError
  /** The windows `codex.rate_limits` events reported since the last call. */
  readonly takeWindows: () => Array<UsageWindow> | undefined
}

const makeReader = (accountId: string): Reader => {
  const parser = makeParser()
  const decoder = makeEventDecoder()
  let windows: Array<UsageWindow> | undefined
  const reader = {
    accountId,
    completed: false,
    push: (chunk: Uint8Array) => decode(parser.push(chunk)),
    end: (): Array<ChatEvent.ChatEvent> | CodexError => {
      const out = decode(parser.end())
      return Array.isArray(out) && !reader.completed
        ? new UpstreamUnavailable({ detail: "the stream closed before response.completed" })
        : out
    },
    takeWindows: () => {
      const taken = windows
      windows = undefined
      return taken
    }
  }
  const decode = (messages: ReadonlyArray<SseMessage>): Array<ChatEvent.ChatEvent> | CodexError => {
    const out: Array<ChatEvent.ChatEvent> = []
    for (const message of messages) {
      const event = decoder.decode(message)
      if (event === undefined) continue
      // After response.completed the turn stands: a torn or odd trailing event cannot undo it.
      if (reader.completed && (event._tag === "MalformedEvent" || event._tag === "Failed")) continue
      switch (event._tag) {
        case "MalformedEvent":
          return new UpstreamUnavailable({ detail: `a malformed event (${event.message})` })
        case "Failed":
          return failedError(event, accountId)
        case "Completed":
          reader.completed = true
          break
        case "RateLimits":
          ;(windows ??= []).push(...fromEvent(event))
          break
      }
      out.push(event)
    }
    return out
  }
  return reader
}

/** One pull of a stream attempt: the next events, a failure, or the end. */
type Pulled = Effect.Effect<Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent>, CodexError | Cause.Done>

/** The bodies (and timers) an attempt owns: destroyed when it ends, however it ends. */
type Owned = Array<{ readonly destroy: () => void }>

const destroyAll = (owned: Owned) => {
  for (const item of owned) item.destroy()
  owned.length = 0
}

/** A turn's result as its events arrive. */
class Turn {
  text = ""
  deltas = ""
  summary = ""
  responseId = ""
  usage: ChatEvent.Usage | undefined = undefined
  readonly toolCalls: Array<{ callId: string; name: string; arguments: string }> = []

  add(batch: ReadonlyArray<ChatEvent.ChatEvent>) {
    for (const event of batch) {
      switch (event._tag) {
        case "TextDelta":
          this.deltas += event.delta
          break
        case "ReasoningSummaryDelta":
          this.summary += event.delta
          break
        case "ToolCallDone":
          this.toolCalls.push({ callId: event.callId, name: event.name, arguments: event.arguments })
          break
        case "OutputItemDone":
          // The final text is the finished message's, not the deltas' (protocol §7, §12.8).
          if (event.item.type === "message") {
            for (const part of event.item.content) if (part.type === "output_text") this.text += part.text
          }
          break
        case "Completed":
          this.responseId = event.responseId
          this.usage = event.usage
          break
        default:
          break
      }
    }
  }
}
