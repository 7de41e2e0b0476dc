/**
 * The router as an `effect/ai` `LanguageModel`: each call is routed (the model, the effort and the
 * account picked by the policy, with fallbacks on usage limits, outages and sign-ins) and answered
 * as `CodexLanguageModel` answers, with its mappings. The response metadata names the model that
 * served the call and, under `codex`, the account and the attempts it took.
 *
 * @since 0.1.0
 */
import { CodexLanguageModel } from "@nexus/provider-codex"
import { DateTime, Effect, Layer, Stream } from "effect"
import { AiError, LanguageModel, Model } from "effect/ai"
import type { NoCandidate, RouteRequest, SkipReason } from "./Route.ts"
import { type RouteChosen, Router, type RouterError } from "./Router.ts"
import type { Complexity } from "./RoutingPolicy.ts"

/**
 * What to route each call as (see `Route.RouteRequest`), and the conversation's settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config extends CodexLanguageModel.ConversationOptions {
  readonly taskType: string
  readonly complexity: Complexity
  /** Pins the model (a slug or an alias): no other model is tried; accounts may still change. */
  readonly model?: string | undefined
  /** Pins the account (its label or ChatGPT account id): no other account is tried. */
  readonly account?: string | undefined
  /** The reasoning effort to ask for, over the policy's. */
  readonly effort?: string | undefined
  /** Calls with the same key go to the same account while it has room; `conversationId` when absent. */
  readonly promptCacheKey?: string | undefined
}

const override = CodexLanguageModel.configOverride<Config>("@nexus/router/RoutedLanguageModel/ConfigOverride")

/**
 * Overrides of {@link Config} for the effects they are provided to (see {@link withConfigOverride}).
 *
 * @since 0.1.0
 * @category references
 */
export const ConfigOverride = override.reference

/**
 * Runs an effect with `overrides` over the layer's config, e.g. one call routed as complex.
 *
 * @since 0.1.0
 * @category references
 */
export const withConfigOverride = override.withConfigOverride

const routeOf = (config: Config): RouteRequest => ({
  taskType: config.taskType,
  complexity: config.complexity,
  model: config.model,
  account: config.account,
  effort: config.effort,
  // A conversation's turns stay on one account while it has room: its prompt cache is there.
  promptCacheKey: config.promptCacheKey ?? config.conversationId
})

/** The route chosen, as the model serving the call and the metadata of its response. */
const servingOf = ({ route }: RouteChosen): CodexLanguageModel.Serving => ({
  _tag: "Serving",
  model: route.served.model,
  metadata: {
    codex: {
      account: route.served.label ?? route.served.accountId,
      accountId: route.served.accountId,
      attempts: route.attempts,
      skipped: route.skipped.map((skip) => ({
        model: skip.model,
        reason: skip.reason,
        ...(skip.account === undefined ? {} : { account: skip.account })
      }))
    }
  }
})

const LIMITS: ReadonlySet<SkipReason> = new Set<SkipReason>(["usage_limit", "window_full"])
const SIGN_INS: ReadonlySet<SkipReason> = new Set<SkipReason>(["no_account", "unknown_account", "reauth_required"])

/**
 * No candidate, as effect/ai says it: every account at its limit is `QuotaExhaustedError` (with the
 * earliest reset), none signed in `AuthenticationError`, a candidate held back by something that
 * passes `InternalProviderError` (retryable), else (the policy, the plans) `InvalidRequestError`.
 */
const noCandidateReason = (error: NoCandidate): AiError.AiErrorReason => {
  const reasons = error.skipped.map((skip) => skip.reason)
  const metadata = { codex: { error: error._tag, message: error.message, reasons } }
  const description = error.message
  if (reasons.length > 0 && reasons.every((reason) => LIMITS.has(reason))) {
    return new AiError.QuotaExhaustedError({
      metadata,
      ...(error.earliestUsable === undefined ? {} : { resetAt: DateTime.makeUnsafe(error.earliestUsable) })
    })
  }
  if (reasons.length > 0 && reasons.every((reason) => SIGN_INS.has(reason))) {
    const kind = reasons.includes("reauth_required") ? "ExpiredKey" : "MissingKey"
    return new AiError.AuthenticationError({ kind, description, metadata })
  }
  return error.isRetryable
    ? new AiError.InternalProviderError({ description, metadata })
    : new AiError.InvalidRequestError({ description, metadata })
}

/**
 * A routing failure as an `AiError`: the served attempt's Codex failure as `CodexLanguageModel`
 * maps it, `NoCandidate` by why every candidate was skipped.
 *
 * @since 0.1.0
 * @category errors
 */
export const toAiError =
  (method: string) =>
  (error: RouterError): AiError.AiError =>
    error._tag === "NoCandidate"
      ? AiError.make({ module: "RoutedLanguageModel", method, reason: noCandidateReason(error) })
      : CodexLanguageModel.toAiError("RoutedLanguageModel", method)(error)

/**
 * The routed language model, with `config` (and the {@link ConfigOverride} in effect at each call).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (config: Config) {
  const router = yield* Router
  return yield* CodexLanguageModel.makeWith("RoutedLanguageModel", (prompted, method) =>
    Stream.unwrap(
      Effect.map(Effect.service(ConfigOverride), (overrides) => {
        const current: Config = { ...config, ...overrides }
        const conversation = { ...CodexLanguageModel.conversationOptions(current), ...prompted }
        return router.stream(routeOf(current), conversation).pipe(
          Stream.map((event) => (event._tag === "RouteChosen" ? servingOf(event) : event)),
          Stream.mapError(toAiError(method))
        )
      })
    )
  )
})

/**
 * The routed `LanguageModel`; needs `Router` (e.g. `Router.layer` and what it needs).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<LanguageModel.LanguageModel, never, Router> =>
  Layer.effect(LanguageModel.LanguageModel, make(config))

/**
 * The layer as an `effect/ai` `Model` (provider "codex", named by the pinned model or the route).
 *
 * @since 0.1.0
 * @category layers
 */
export const model = (config: Config): Model.Model<"codex", LanguageModel.LanguageModel, Router> =>
  Model.make("codex", config.model ?? `${config.taskType}/${config.complexity}`, layer(config))
