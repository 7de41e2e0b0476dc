/**
 * The ChatGPT Codex backend as an `effect/ai` `LanguageModel`: `generateText`, `streamText`,
 * `generateObject` and tool calls through a `Toolkit`, on a ChatGPT subscription. Turns go through
 * `CodexClient`, so they use Nexus' credentials (401 recovery), retries and usage windows like any
 * other turn. The mappings (a prompt to a conversation, a turn's events to response parts, a
 * failure to an `AiError`) are exported through {@link makeWith}, which the router's
 * `RoutedLanguageModel` builds on.
 *
 * @since 0.1.0
 */
import type { TokenSet } from "@nexus/oauth"
import { Clock, Context, DateTime, Effect, Layer, Option, Stream } from "effect"
import { AiError, LanguageModel, Model, type Response } from "effect/ai"
import type * as ChatEvent from "./ChatEvent.ts"
import type { ChatRequest } from "./ChatRequest.ts"
import { CodexClient } from "./CodexClient.ts"
import { type CodexError, retryAfter } from "./Errors.ts"
import * as InternalParts from "./internal/parts.ts"
import * as InternalPrompt from "./internal/prompted.ts"
import { ModelCatalog } from "./ModelCatalog.ts"

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/**
 * The settings of a conversation that `effect/ai` options do not carry, shared by every layer
 * built with {@link makeWith}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConversationOptions {
  /** The base prompt; the client's default when absent. */
  readonly instructions?: string | undefined
  readonly reasoningSummary?: "auto" | "concise" | "detailed" | undefined
  readonly verbosity?: "low" | "medium" | "high" | undefined
  readonly parallelToolCalls?: boolean | undefined
  /** Keeps the backend's prompt cache across the turns of one conversation. */
  readonly conversationId?: string | undefined
}

/**
 * What {@link layer} runs turns with: the model, the account, and the conversation's settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config extends ConversationOptions {
  /** A catalog slug or an alias. */
  readonly model: string
  /** The account turns run as, already resolved (e.g. `TokenStore.get(label)` → `tokens.accountId`). */
  readonly account: TokenSet.AccountId
  /** One the model's catalog entry lists; another is dropped with a warning. */
  readonly reasoningEffort?: string | undefined
  /** Attempts in all for transient failures; the client's setting when absent. */
  readonly attempts?: number | undefined
}

/**
 * A reference holding overrides of a config (default: none), and `withConfigOverride`, which runs
 * an effect with more overrides over the outer ones, e.g. another account for one call.
 *
 * @since 0.1.0
 * @category references
 */
export const configOverride = <C>(key: string) => {
  const reference = Context.Reference<Partial<C>>(key, { defaultValue: () => ({}) })
  const withConfigOverride =
    (overrides: Partial<C>) =>
    <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.flatMap(Effect.service(reference), (outer) =>
        Effect.provideService(self, reference, { ...outer, ...overrides })
      )
  return { reference, withConfigOverride }
}

const override = configOverride<Config>("@nexus/provider-codex/CodexLanguageModel/ConfigOverride")

/**
 * Overrides of {@link Config} for the effects they are provided to (see {@link withConfigOverride}).
 *
 * @since 0.1.0
 * @category references
 */
export const ConfigOverride = override.reference

/**
 * Runs an effect with `overrides` over the layer's config (and over outer overrides), e.g. another
 * account or more reasoning for one call.
 *
 * @since 0.1.0
 * @category references
 */
export const withConfigOverride = override.withConfigOverride

/**
 * The conversation's settings of a config, as a chat request takes them.
 *
 * @since 0.1.0
 * @category mapping
 */
export const conversationOptions = (options: ConversationOptions): ConversationOptions => ({
  instructions: options.instructions,
  reasoningSummary: options.reasoningSummary,
  verbosity: options.verbosity,
  parallelToolCalls: options.parallelToolCalls,
  conversationId: options.conversationId
})

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/**
 * What a prompt becomes: the parts of a chat request that `effect/ai` options decide.
 *
 * @since 0.1.0
 * @category models
 */
export type Prompted = InternalPrompt.Prompted

/**
 * The model serving a turn, as its events learn it: sent before `Created` (a router's choice comes
 * inside its stream). Its `metadata` goes on the response-metadata part.
 *
 * @since 0.1.0
 * @category models
 */
export interface Serving extends InternalParts.Serving {}

/**
 * A turn source: the events of one turn of `prompted`, failures already mapped to `AiError`.
 *
 * @since 0.1.0
 * @category models
 */
export type Turn = (
  prompted: Prompted,
  method: "generateText" | "streamText"
) => Stream.Stream<ChatEvent.ChatEvent | Serving, AiError.AiError>

/**
 * A `LanguageModel` over a turn source: the prompt mapped to a conversation, the events to
 * response parts. `generateText` is the stream collected and folded (text deltas joined), so that
 * it answers exactly the parts `streamText` streams, item by item in the order they came;
 * `CodexClient.chat` would fold a turn into one text, one summary and its calls, losing the
 * items' order and ids.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (module: string, turn: Turn): Effect.Effect<LanguageModel.LanguageModel> => {
  const streamParts = (
    options: LanguageModel.ProviderOptions,
    method: "generateText" | "streamText"
  ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const fail = InternalPrompt.failWith(module, method)
        const { prompted, strictTools } = yield* InternalPrompt.toPrompted(options, fail)
        const clock = yield* Clock.Clock
        const parts = turn(prompted, method).pipe(
          Stream.mapAccumArray(
            () => new InternalParts.PartsMapper(() => clock.currentTimeMillisUnsafe()),
            (mapper, batch) => [mapper, mapper.add(batch)] as const
          )
        )
        return strictTools.size === 0 ? parts : Stream.mapEffect(parts, InternalPrompt.strictParams(strictTools))
      })
    )
  return LanguageModel.make({
    generateText: (options) =>
      Effect.map(Stream.runCollect(streamParts(options, "generateText")), InternalParts.collect),
    streamText: (options) => streamParts(options, "streamText"),
    codecTransformer: InternalPrompt.codecTransformer,
    // System messages anywhere in the history travel as developer messages.
    supportsSystemMessagesInHistory: Effect.succeed(true)
  })
}

/**
 * The language model over `CodexClient`, with `config` (and the {@link ConfigOverride} in effect
 * at each call). The response metadata names the catalog slug served when a `ModelCatalog` is at
 * hand (`CodexClient.layer` offers one), else the configured model.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (config: Config) {
  const client = yield* CodexClient
  const catalog = yield* Effect.serviceOption(ModelCatalog)
  const served = (model: string): Effect.Effect<string> =>
    Option.match(catalog, {
      onNone: () => Effect.succeed(model),
      // An unknown model fails the turn itself, with the models the catalog knows.
      onSome: (known) =>
        Effect.orElseSucceed(
          Effect.map(known.resolve(model), (info) => info.slug),
          () => model
        )
    })
  return yield* makeWith("CodexLanguageModel", (prompted, method) =>
    Stream.unwrap(
      Effect.gen(function* () {
        const current: Config = { ...config, ...(yield* ConfigOverride) }
        const serving: Serving = { _tag: "Serving", model: yield* served(current.model) }
        const request: ChatRequest = {
          ...conversationOptions(current),
          ...prompted,
          model: current.model,
          reasoningEffort: current.reasoningEffort
        }
        const events = client.stream(request, { account: current.account, attempts: current.attempts })
        return Stream.concat(Stream.succeed(serving), Stream.mapError(events, toAiError("CodexLanguageModel", method)))
      })
    )
  )
})

/**
 * The `LanguageModel` on the ChatGPT Codex backend; needs `CodexClient` (e.g. `CodexClient.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<LanguageModel.LanguageModel, never, CodexClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(config))

/**
 * The layer as an `effect/ai` `Model` (provider "codex"), e.g. for an `ExecutionPlan`.
 *
 * @since 0.1.0
 * @category layers
 */
export const model = (config: Config): Model.Model<"codex", LanguageModel.LanguageModel, CodexClient> =>
  Model.make("codex", config.model, layer(config))

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** What the Codex error said, kept with the AiError (its message never holds a token). */
const codexMetadata = (error: { readonly _tag: string; readonly message: string }) => ({
  codex: { error: error._tag, message: error.message }
})

const reasonOf = (error: CodexError): AiError.AiErrorReason => {
  const metadata = codexMetadata(error)
  const description = error.message
  switch (error._tag) {
    case "UsageLimitReached":
      return new AiError.QuotaExhaustedError({
        metadata,
        ...(error.resetsAt === undefined ? {} : { resetAt: DateTime.fromEpochSeconds(error.resetsAt) })
      })
    case "RateLimited":
      return new AiError.RateLimitError({ metadata, retryAfter: Option.getOrUndefined(retryAfter(error)) })
    case "Unauthorized":
      return new AiError.AuthenticationError({ kind: "InvalidKey", description, metadata })
    case "ReauthenticationRequired":
      return new AiError.AuthenticationError({ kind: "ExpiredKey", description, metadata })
    case "TokenNotFound":
      return new AiError.AuthenticationError({ kind: "MissingKey", description, metadata })
    case "InvalidRequest":
      return new AiError.InvalidRequestError({ description, metadata })
    case "ContextLengthExceeded":
      return new AiError.InvalidRequestError({
        parameter: "prompt",
        constraint: "must fit the model's context window",
        description,
        metadata
      })
    case "UnknownModel":
      return new AiError.InvalidRequestError({ parameter: "model", description, metadata })
    case "UpstreamUnavailable":
      return new AiError.InternalProviderError({ description, metadata })
    case "TokenStoreUnavailable":
      return error.retryable
        ? new AiError.InternalProviderError({ description, metadata })
        : new AiError.UnknownError({ description, metadata })
    case "OAuthHttpError":
      return error.retryable
        ? new AiError.InternalProviderError({ description, metadata })
        : new AiError.AuthenticationError({ kind: "Unknown", description, metadata })
  }
}

/**
 * A Codex failure as an `AiError`: a usage limit is `QuotaExhaustedError` (with its reset), a rate
 * limit `RateLimitError` (with its delay), a refused sign-in `AuthenticationError`, a refused
 * request, an unknown model or a too long conversation `InvalidRequestError`, an unavailable
 * backend `InternalProviderError`. The Codex message is kept in `metadata.codex`.
 *
 * @since 0.1.0
 * @category errors
 */
export const toAiError =
  (module: string, method: string) =>
  (error: CodexError): AiError.AiError =>
    AiError.make({ module, method, reason: reasonOf(error) })
