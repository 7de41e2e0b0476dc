/**
 * The Codex backend client: a chat request in, the Responses SSE stream out as typed events, with
 * the error and retry behaviour of protocol §7–§8: the model resolved through the catalog before
 * anything is sent, 401 recovery through Credentials, usage limits, rate limits and bounded
 * retries of transient failures on an Effect `Schedule`, an idle limit, usage windows kept for the
 * fleet, and optional zstd request bodies.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { PgClient } from "@effect/sql-pg"
import type { Errors as DatabaseErrors } from "@nexus/database"
import { type Errors as OAuthErrors, OAuthConfig, type TokenSet } from "@nexus/oauth"
import { Credentials } from "@nexus/token-store"
import type { Pull, Redacted } from "effect"
import {
  Array as Arr,
  Cause,
  Channel,
  Config,
  Context,
  Duration,
  Effect,
  Layer,
  Schedule,
  Schema,
  Scope,
  Stream
} from "effect"
import { randomUUID } from "node:crypto"
import { arch, release, type } from "node:os"
import { zstdCompressSync } from "node:zlib"
import packageJson from "../package.json" with { type: "json" }
import type * as ChatEvent from "./ChatEvent.ts"
import { Gathered } from "./ChatEvent.ts"
import { type ChatRequest, toResponsesBody } from "./ChatRequest.ts"
import { type CodexError, isRetryable, retryAfter, UpstreamUnavailable } from "./Errors.ts"
import * as Backend from "./internal/backend.ts"
import { statusError } from "./internal/classify.ts"
import * as Transport from "./internal/transport.ts"
import { Tracing } from "@nexus/telemetry"
import {
  type Answer,
  foldInto,
  hasContent,
  idleError,
  type Owned,
  releaseAll,
  makeWatches,
  pullSteps,
  readAnswer,
  type Step,
  TurnState,
  type Watch
} from "./internal/turn.ts"
import { type CatalogUnavailable, type ModelInfo, ModelCatalog, type UnknownModel } from "./ModelCatalog.ts"
import { type Credits, type UsageWindow, UsageWindows, type UsageWindowsUnavailable } from "./UsageWindows.ts"

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
  /** The account's usage windows as this turn's own answer reported them (headers, then events). */
  readonly rateLimits: ReadonlyArray<UsageWindow>
  /** The account's credits, when this turn's answer reported them. */
  readonly credits: Credits | undefined
}

/**
 * A retry about to happen: which attempt failed, why, and how long the client waits before the
 * next one (the backend's own delay when it gave one).
 *
 * @since 0.1.0
 * @category models
 */
export interface Retry {
  /** The attempt that failed, from 1. */
  readonly attempt: number
  /** Attempts in all. */
  readonly of: number
  readonly delay: Duration.Duration
  readonly error: CodexError
}

/**
 * Options of one call.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /**
   * The ChatGPT account the turn runs as, already resolved (a label is looked up once, by whoever
   * took it from a person: `TokenStore.get(label)` answers its `tokens.accountId`).
   */
  readonly account: TokenSet.AccountId
  /**
   * Attempts in all for transient failures (first try included); the client's setting when
   * absent. 1 fails fast, for a router that would rather move to another account.
   */
  readonly attempts?: number | undefined
  /** Called before each retry's wait, e.g. to tell a person why nothing is happening. */
  readonly onRetry?: ((retry: Retry) => Effect.Effect<void>) | undefined
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
  baseUrl: Backend.DEFAULT_BASE_URL,
  originator: Backend.DEFAULT_ORIGINATOR,
  instructions: "You are a helpful assistant.",
  idleTimeout: Duration.seconds(300),
  attempts: 6,
  baseDelay: Duration.millis(200),
  maxDelay: Duration.seconds(30),
  maxRetryAfter: Duration.seconds(60),
  zstd: false
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
    readonly stream: (
      request: ChatRequest,
      options: CallOptions | TokenSet.AccountId
    ) => Stream.Stream<ChatEvent.ChatEvent, CodexError>
    /**
     * The same turn as the pull `stream` is made of, opened in the caller's scope (whose close
     * ends it): for a caller on a hot path that pulls the batches itself, without a stream
     * between (each layer of stream costs a streamed turn measurable CPU, bench:gateway).
     */
    readonly open: (
      request: ChatRequest,
      options: CallOptions | TokenSet.AccountId
    ) => Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent>, CodexError>, CodexError, Scope.Scope>
    /** The whole turn: the same events, folded; retried as a whole on transient failures. */
    readonly chat: (
      request: ChatRequest,
      options: CallOptions | TokenSet.AccountId
    ) => Effect.Effect<ChatResult, CodexError>
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
   * stack, with usage windows and the model catalog in Postgres — both offered too, so that a
   * router on the same stack shares the client's catalog and windows.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    CodexClient | ModelCatalog | UsageWindows,
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
        Layer.provideMerge(
          ModelCatalog.layer({ baseUrl: settings.baseUrl, originator: settings.originator, aliases }).pipe(
            Layer.provide(NodeHttpClient.layerUndiciNoDispatcher)
          )
        ),
        Layer.provideMerge(UsageWindows.layer)
      )
    })
  ).pipe(Layer.provide(NodeHttpClient.layerDispatcher))
}

/** The request, mapped and encoded once for all its attempts. */
interface Prepared {
  readonly model: string
  readonly body: string | Uint8Array
  readonly warnings: ReadonlyArray<string>
}

/** The options of a call given as its account alone. */
const callOf = (options: CallOptions | TokenSet.AccountId): CallOptions =>
  typeof options === "string" ? { account: options } : options

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
  // Node's timers take at most 2^31-1 ms (24.8 days); longer (or infinite) means that.
  const idle = Duration.min(Duration.max(settings.idleTimeout, Duration.millis(1)), Duration.millis(2 ** 31 - 1))

  const watches = yield* makeWatches(idle)
  yield* Effect.forkScoped(watches.sweep)

  const observe = (accountId: string, windows: ReadonlyArray<UsageWindow>): Effect.Effect<void> =>
    windows.length === 0 ? Effect.void : usage.record(accountId, windows)

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

  const fixedHeaders = {
    "user-agent": settings.userAgent,
    "session-id": sessionId,
    accept: "text/event-stream",
    "content-type": "application/json",
    ...(settings.zstd ? { "content-encoding": "zstd" } : {})
  }

  /**
   * POSTs the request; no headers within the idle limit is an idle failure. The answer's body
   * belongs to `owned` from the moment it exists, so that whoever owns the list destroys it
   * however the attempt ends (an interruption included).
   */
  const post = (prepared: Prepared, token: Redacted.Redacted<string>, accountId: string, owned: Owned, watch: Watch) =>
    Effect.uninterruptibleMask((restore) => {
      watch.waiting()
      return Effect.map(
        restore(
          Transport.post(
            dispatcher,
            responsesUrl,
            { ...Backend.authHeaders(token, accountId, settings.originator), ...fixedHeaders },
            prepared.body,
            (abort) => (watch.onIdle = abort)
          )
        ),
        (answer) => {
          watch.arrived()
          owned.push(answer.body)
          return answer
        }
      )
    }).pipe(
      Effect.mapError((failure) =>
        watch.fired
          ? idleError(idle, "no headers")
          : new UpstreamUnavailable({ reason: "unreachable", detail: `no answer (${failure.detail})` })
      )
    )

  /** Reads a refused answer's body (at most 64 KiB, within the idle limit) for its error. */
  const refused = (answer: Transport.Answer, accountId: string): Effect.Effect<never, CodexError> =>
    Effect.flatMap(
      Effect.promise(() => Transport.readText(answer.body, 64 * 1024)).pipe(
        Effect.timeoutOrElse({ duration: idle, orElse: () => Effect.succeed("") })
      ),
      (text) => Effect.fail(statusError(answer.status, answer.headers, text, accountId))
    )

  /**
   * One attempt: the request sent (a 401 recovered once), the answer's windows kept, and the steps
   * of its events; a refused answer is its error.
   */
  const send = (
    prepared: Prepared,
    call: CallOptions,
    state: TurnState,
    owned: Owned
  ): Effect.Effect<Answer, CodexError> =>
    Effect.suspend(() => {
      const watch = watches.start(owned)
      return Backend.authorized(
        credentials,
        call.account,
        (token, tokens) => post(prepared, token, tokens.accountId, owned, watch),
        (answer) => answer.body.destroy()
      ).pipe(
        Effect.flatMap(({ answer, tokens }) => {
          state.accountId = tokens.accountId
          // Every answer, 429s included, reports the account's usage windows (protocol §8).
          const recorded = observe(tokens.accountId, state.sawHeaders(answer.headers))
          return answer.status < 200 || answer.status >= 300
            ? Effect.andThen(recorded, refused(answer, tokens.accountId))
            : Effect.as(recorded, readAnswer(answer, state, owned, watch, idle))
        })
      )
    })

  /** Backoff with jitter, bounded; the backend's own delay when it gave one (protocol §8). */
  const retryPolicy = (call: CallOptions) => {
    const attempts = Math.max(1, call.attempts ?? settings.attempts)
    return Schedule.exponential(settings.baseDelay).pipe(
      Schedule.setInputType<CodexError>(),
      Schedule.jittered,
      Schedule.while(({ input, attempt }) => {
        if (attempt >= attempts || !isRetryable(input)) return false
        const asked = retryAfter(input)
        return asked._tag === "None" || Duration.isLessThanOrEqualTo(asked.value, settings.maxRetryAfter)
      }),
      Schedule.modifyDelay(({ input, duration, attempt }) => {
        const asked = retryAfter(input)
        const delay = asked._tag === "Some" ? asked.value : Duration.min(duration, settings.maxDelay)
        const retry: Retry = { attempt, of: attempts, delay, error: input }
        return Effect.as(
          Effect.andThen(
            Effect.logDebug("retrying the Codex request", {
              attempt: attempt + 1,
              of: attempts,
              after: Duration.format(delay),
              reason: input.message
            }),
            call.onRetry === undefined ? Effect.void : call.onRetry(retry)
          ),
          delay
        )
      })
    )
  }

  /**
   * One turn's retry decision: after a failed attempt, waits the schedule's delay and succeeds, or
   * fails with the attempt's error when the schedule gives up. The schedule is built at the first
   * failure, so a turn that succeeds at once pays nothing for it.
   */
  const makeRetry = (call: CallOptions) => {
    let step: ((error: CodexError) => Pull.Pull<unknown, never, unknown>) | undefined
    return (error: CodexError): Effect.Effect<void, CodexError> =>
      Effect.flatMap(
        step === undefined
          ? Effect.map(Schedule.toStepWithSleep(retryPolicy(call)), (made) => (step = made))
          : Effect.succeed(step),
        (next) => Effect.matchEffect(next(error), { onFailure: () => Effect.fail(error), onSuccess: () => Effect.void })
      )
  }

  /**
   * A turn's events as a pull, its requests owned by the current scope: attempts until one gets
   * content through. `Created` and `RateLimits` are held
   * back until the first event with content, so an attempt that fails before any content can be
   * retried without the caller ever seeing a second `Created`; after content, failures go to the
   * caller (no duplicated text).
   */
  const turnPull = (prepared: Prepared, call: CallOptions): Effect.Effect<Pulled, never, Scope.Scope> =>
    Effect.flatMap(Effect.scope, (scope) => {
      const owned: Owned = []
      const state = new TurnState(call.account)
      const retryAfterFailure = makeRetry(call)
      let steps: Step | undefined
      let held: Array<ChatEvent.ChatEvent> | undefined = []
      const start: Pulled = Effect.suspend(() =>
        Effect.flatMap(send(prepared, call, state, owned), (answer) => {
          steps = pullSteps(answer, state.accountId, observe)
          return next
        })
      )
      const next: Pulled = Effect.suspend(() => (steps === undefined ? start : Effect.flatMap(steps, holdBack)))
      /** Holds back batches without content until content comes (or the turn completes). */
      const holdBack = (batch: Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent> | null): Pulled => {
        if (held === undefined) return batch === null ? Cause.done() : Effect.succeed(batch)
        if (batch !== null) {
          held.push(...batch)
          if (!hasContent(batch) && !batch.some((event) => event._tag === "Completed")) return next
        }
        const out = held
        held = undefined
        state.delivered = true
        return Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : Cause.done()
      }
      const retry = (error: CodexError): Pulled => {
        if (state.delivered) return Effect.fail(error)
        releaseAll(owned)
        steps = undefined
        held = []
        return Effect.andThen(retryAfterFailure(error), pull)
      }
      const pull: Pulled = Effect.catchIf(next, (error): error is CodexError => !Cause.isDone(error), retry)
      // One span for the whole turn (when a tracer collects spans, see Tracing.ts), ended with the
      // stream; each pull runs under it, so the requests' spans are its children.
      return Effect.flatMap(Tracing.makeSpan("CodexClient.stream", { model: prepared.model }), (span) =>
        Effect.as(
          Scope.addFinalizerExit(scope, (exit) =>
            Effect.clockWith((clock) =>
              Effect.sync(() => {
                releaseAll(owned)
                span?.end(clock.currentTimeNanosUnsafe(), exit)
              })
            )
          ),
          span === undefined ? pull : Effect.withParentSpan(pull, span, { captureStackTrace: false })
        )
      )
    })

  const open = (request: ChatRequest, options: CallOptions | TokenSet.AccountId) =>
    Effect.flatMap(prepare(request), (prepared) => turnPull(prepared, callOf(options)))

  const stream = (
    request: ChatRequest,
    options: CallOptions | TokenSet.AccountId
  ): Stream.Stream<ChatEvent.ChatEvent, CodexError> =>
    Stream.fromChannel(Channel.fromTransform((_, scope) => Scope.provide(open(request, options), scope)))

  /** One pull of a stream: the next events, a failure, or the end. */
  type Pulled = Effect.Effect<Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent>, CodexError | Cause.Done>

  /** A whole turn: attempts until one is read to its end (nothing reaches the caller before). */
  const turnResult = (prepared: Prepared, call: CallOptions): Effect.Effect<ChatResult, CodexError> => {
    const state = new TurnState(call.account)
    const retryAfterFailure = makeRetry(call)
    // Nothing reaches a caller before the turn is whole: every transient failure may be retried.
    const once: Effect.Effect<Gathered, CodexError> = Effect.suspend(() => {
      const owned: Owned = []
      const turn = new Gathered()
      return Effect.ensuring(
        Effect.flatMap(send(prepared, call, state, owned), (answer) =>
          Effect.as(foldInto(answer, turn, state.accountId, observe), turn)
        ),
        Effect.sync(() => releaseAll(owned))
      )
    }).pipe(Effect.catch((error) => Effect.andThen(retryAfterFailure(error), once)))
    return Effect.map(once, (turn): ChatResult => ({
      text: turn.finalText,
      toolCalls: turn.toolCalls,
      reasoningSummary: turn.summary,
      usage: turn.usage,
      model: prepared.model,
      responseId: turn.responseId,
      warnings: prepared.warnings,
      rateLimits: state.windows,
      credits: state.credits
    }))
  }

  // Like the stream's, the span covers the turn once its model is resolved, and has no call-site
  // stack trace (capturing one costs more than the rest of the call).
  const chat = (
    request: ChatRequest,
    options: CallOptions | TokenSet.AccountId
  ): Effect.Effect<ChatResult, CodexError> =>
    Effect.flatMap(prepare(request), (prepared) =>
      Tracing.traced(turnResult(prepared, callOf(options)), "CodexClient.chat", { model: prepared.model })
    )

  return CodexClient.of({ stream, open, chat, models: catalog.models })
})
