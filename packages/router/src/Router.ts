/**
 * The router: for each request, which model with which reasoning effort on which signed-in ChatGPT
 * account serves it (`plan`), and the turn run through that plan with fallbacks (`execute`,
 * `stream`): a usage limit blocks the account for the fleet and moves on, repeated rate limits or
 * outages cool an (account, model) down, a sign-in that needs a login skips its account, a refused
 * request fails at once, a conversation too long for a model moves to larger ones.
 *
 * @since 0.1.0
 */
import type { TokenSet } from "@nexus/oauth"
import { type ChatEvent, type ChatRequest, CodexClient, Errors, ModelCatalog } from "@nexus/provider-codex"
import { Tracing } from "@nexus/telemetry"
import type { Array as Arr, Pull } from "effect"
import { Cause, Clock, Context, Effect, Exit, Layer, Metric, Option, Scope, Stream } from "effect"
import { AccountPool } from "./AccountPool.ts"
import { plan as planWith, type Resolved } from "./internal/planner.ts"
import { type Attempt, NoCandidate, type Plan, type RouteRequest, type Skip } from "./Route.ts"
import { isSelector, matchRule, RoutingPolicy, selectModel } from "./RoutingPolicy.ts"

/**
 * The conversation to route: a chat request without the model and effort, which the router picks.
 *
 * @since 0.1.0
 * @category models
 */
export type Conversation = Omit<ChatRequest.ChatRequest, "model" | "reasoningEffort">

/**
 * Options of one routed turn, passed to each attempt's client call.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnOptions {
  /** Called before each of the client's own retries on an attempt (see `CodexClient.CallOptions`). */
  readonly onRetry?: ((retry: CodexClient.Retry) => Effect.Effect<void>) | undefined
}

/**
 * The route a turn took: the attempt that served it, every candidate skipped (before and while
 * running, with the reason), and how many attempts were made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Taken {
  readonly served: Attempt
  readonly skipped: ReadonlyArray<Skip>
  readonly attempts: number
}

/**
 * A whole turn and its route.
 *
 * @since 0.1.0
 * @category models
 */
export interface Routed {
  readonly result: CodexClient.ChatResult
  readonly route: Taken
}

/**
 * The event a routed stream sends once an attempt gets content through, before that content.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteChosen {
  readonly _tag: "RouteChosen"
  readonly route: Taken
}

/**
 * A routed turn opened (see `Router.open`): its route, the batch of events that decided it (the
 * first content, or the whole turn when it had none), and the pull of the rest.
 *
 * @since 0.1.0
 * @category models
 */
export interface Opened {
  readonly route: Taken
  readonly first: Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent> | undefined
  readonly pull: Pull.Pull<Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent>, Errors.CodexError>
}

/**
 * The events an opened turn starts with: its `RouteChosen`, then its first batch — what `stream`
 * sends first.
 *
 * @since 0.1.0
 * @category models
 */
export const headOf = (opened: Opened): Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent | RouteChosen> => {
  const chosen: RouteChosen = { _tag: "RouteChosen", route: opened.route }
  return opened.first === undefined ? [chosen] : [chosen, ...opened.first]
}

/**
 * What routing a turn can fail with: no candidate (each with its reason), the pinned account's usage
 * limit, or a failure no other candidate can help with (a refused request, a conversation too long
 * for every model).
 *
 * @since 0.1.0
 * @category errors
 */
export type RouterError = NoCandidate | Errors.CodexError

/**
 * What planning can fail with: no candidate, the pinned account's usage limit, or a pinned model
 * the catalog does not know.
 *
 * @since 0.1.0
 * @category errors
 */
export type PlanError = NoCandidate | Errors.UsageLimitReached | ModelCatalog.UnknownModel

/**
 * @since 0.1.0
 * @category metrics
 */
export const routed = Metric.counter("nexus_router_requests_total", {
  description: "Turns routed, by model, account and outcome"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const fallbacks = Metric.counter("nexus_router_fallbacks_total", {
  description: "Attempts abandoned for the next candidate, by reason"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const planTime = Metric.timer("nexus_router_plan_duration", { description: "Time to plan a request" })

/**
 * @since 0.1.0
 * @category services
 */
export class Router extends Context.Service<
  Router,
  {
    /**
     * The plan for `request`, from memory (no query): what would be tried, in order, and what not.
     * A pinned model the catalog does not know fails as `UnknownModel`, with the models it knows.
     */
    readonly plan: (request: RouteRequest) => Effect.Effect<Plan, PlanError>
    /** The turn, through the plan, with fallbacks. */
    readonly execute: (
      request: RouteRequest,
      conversation: Conversation,
      options?: TurnOptions
    ) => Effect.Effect<Routed, RouterError>
    /**
     * The turn as events, through the plan: falls back only before content reaches the caller;
     * a `RouteChosen` comes just before the first content.
     */
    readonly stream: (
      request: RouteRequest,
      conversation: Conversation,
      options?: TurnOptions
    ) => Stream.Stream<ChatEvent.ChatEvent | RouteChosen, RouterError>
    /**
     * The turn of `stream`, opened in the caller's scope (whose close ends it) up to its route,
     * without a stream between: for a caller on a hot path that pulls the batches itself.
     */
    readonly open: (
      request: RouteRequest,
      conversation: Conversation,
      options?: TurnOptions
    ) => Effect.Effect<Opened, RouterError, Scope.Scope>
  }
>()("@nexus/router/Router") {
  /**
   * The router over the policy, the pool, the model catalog and the Codex client.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    Router,
    never,
    RoutingPolicy | AccountPool | ModelCatalog.ModelCatalog | CodexClient.CodexClient
  > = Layer.effect(Router)(Effect.suspend(() => make))
}

/** An attempt's failure, as the router acts on it. */
type Verdict =
  | { readonly _tag: "Fail" }
  | { readonly _tag: "SkipAccount"; readonly skip: Skip }
  | { readonly _tag: "Next"; readonly skip: Skip }
  | { readonly _tag: "LargerContext"; readonly skip: Skip }

const make = Effect.gen(function* () {
  /** `routed` with its attributes, made once per (model, account, outcome): a turn only counts. */
  const counters = new Map<string, Metric.Metric<number, Metric.CounterState<number>>>()
  const routedFor = (attempt: Attempt, outcome: string) => {
    const key = `${attempt.model}\u0000${attempt.accountId}\u0000${outcome}`
    let counter = counters.get(key)
    if (counter === undefined) {
      counter = Metric.withAttributes(routed, { model: attempt.model, account: attempt.accountId, outcome })
      counters.set(key, counter)
    }
    return counter
  }
  const policy = yield* RoutingPolicy
  const pool = yield* AccountPool
  const catalog = yield* ModelCatalog.ModelCatalog
  const client = yield* CodexClient.CodexClient

  /**
   * Candidates' models resolved through the catalog (a selector through its metadata), kept per
   * catalog: `cached` answers the same array until the catalog changes, and resolving (a sort of
   * the catalog for a selector) is then done once, not per plan.
   */
  const resolved = new WeakMap<ReadonlyArray<ModelCatalog.ModelInfo>, Map<string, ModelCatalog.ModelInfo | undefined>>()
  const resolve = (
    models: ReadonlyArray<ModelCatalog.ModelInfo>,
    requested: string,
    effort: string | undefined
  ): Effect.Effect<Resolved> => {
    let known = resolved.get(models)
    if (known === undefined) {
      known = new Map()
      resolved.set(models, known)
    }
    if (known.has(requested)) return Effect.succeed({ requested, effort, model: known.get(requested) })
    const found: Effect.Effect<ModelCatalog.ModelInfo | undefined> = isSelector(requested)
      ? Effect.sync(() => {
          const slug = Option.getOrUndefined(selectModel(requested, models) ?? Option.none())
          return models.find((model) => model.slug === slug)
        })
      : Effect.match(catalog.resolve(requested), { onFailure: () => undefined, onSuccess: (model) => model })
    return Effect.map(found, (model) => {
      known.set(requested, model)
      return { requested, effort, model }
    })
  }

  const plan = (request: RouteRequest): Effect.Effect<Plan, PlanError> =>
    Effect.gen(function* () {
      let rule: number | "pinned" = "pinned"
      let named: ReadonlyArray<{ readonly model: string; readonly effort?: string | undefined }>
      if (request.model !== undefined) {
        // A pinned model that does not exist is the caller's mistake: say which models do.
        if (!isSelector(request.model)) yield* catalog.resolve(request.model)
        named = [{ model: request.model, effort: request.effort }]
      } else {
        const matched = matchRule(policy, request.complexity, request.taskType)
        if (Option.isNone(matched)) {
          return yield* new NoCandidate({
            skipped: [
              {
                model: "*",
                reason: "no_rule",
                detail: `no rule of the routing policy (${policy.source}) matches ${request.complexity} ${request.taskType}`
              }
            ]
          })
        }
        rule = matched.value.index
        named = matched.value.rule.candidates
      }
      const models = yield* catalog.cached
      const candidates: Array<Resolved> = []
      for (const candidate of named) candidates.push(yield* resolve(models, candidate.model, candidate.effort))
      const state = yield* pool.state
      const now = yield* Clock.currentTimeMillis
      const outcome = planWith(request, candidates, rule, state, now)
      if ("attempts" in outcome) return outcome
      return yield* outcome
    }).pipe(
      Effect.timed,
      Effect.tap(([took]) => Metric.update(planTime, took)),
      Effect.map(([, planned]) => planned),
      (effect) => Tracing.traced(effect, "Router.plan")
    )

  /** What to do after an attempt failed with `error`. */
  const judge = (attempt: Attempt, error: Errors.CodexError, now: number): Effect.Effect<Verdict> => {
    const base = {
      model: attempt.requested,
      ...(attempt.effort === undefined ? {} : { effort: attempt.effort }),
      account: attempt.label ?? attempt.accountId,
      detail: error.message
    }
    switch (error._tag) {
      case "UsageLimitReached": {
        // No reset named: probe the account again in five minutes.
        const until = error.resetsAt === undefined ? now + 5 * 60_000 : error.resetsAt * 1000
        return Effect.as(pool.block(attempt.accountId, until, "usage_limit_reached"), {
          _tag: "SkipAccount",
          skip: { ...base, reason: "usage_limit", until }
        })
      }
      case "RateLimited":
      case "UpstreamUnavailable":
        return Effect.as(pool.failure(attempt.accountId, attempt.model), {
          _tag: "Next",
          skip: { ...base, reason: "failed" }
        })
      case "Unauthorized":
      case "ReauthenticationRequired":
      case "TokenNotFound":
        return Effect.succeed({ _tag: "SkipAccount", skip: { ...base, reason: "reauth_required" } })
      case "TokenStoreUnavailable":
      case "OAuthHttpError":
        return Effect.succeed(
          Errors.isRetryable(error)
            ? { _tag: "Next", skip: { ...base, reason: "failed" } }
            : { _tag: "SkipAccount", skip: { ...base, reason: "reauth_required" } }
        )
      case "UnknownModel":
        return Effect.succeed({ _tag: "Next", skip: { ...base, reason: "unknown_model" } })
      case "ContextLengthExceeded":
        return Effect.succeed({ _tag: "LargerContext", skip: { ...base, reason: "context_too_small" } })
      default:
        return Effect.succeed({ _tag: "Fail" })
    }
  }

  /**
   * Runs `request` through its plan: `run(attempt)` is tried on each planned attempt in turn
   * until one succeeds or fails in a way no other candidate can help with.
   */
  const through = <A>(
    request: RouteRequest,
    run: (attempt: Attempt, skipped: ReadonlyArray<Skip>, tried: number) => Effect.Effect<A, Errors.CodexError>
  ): Effect.Effect<A, RouterError> =>
    Effect.gen(function* () {
      const first = yield* plan(request)
      const skipped: Array<Skip> = [...first.skipped]
      let queue: Array<Attempt> = [...first.attempts]
      const excluded = new Set<string>()
      let tried = 0
      let contextAbove = request.contextAbove
      while (queue.length > 0) {
        const attempt = queue.shift()!
        if (excluded.has(attempt.accountId)) continue
        tried++
        const outcome = yield* Effect.result(
          Tracing.traced(run(attempt, skipped, tried), "Router.attempt", {
            model: attempt.model,
            account: attempt.accountId,
            effort: attempt.effort ?? "default"
          })
        )
        if (outcome._tag === "Success") {
          yield* pool.success(attempt.accountId, attempt.model)
          yield* Metric.update(routedFor(attempt, "ok"), 1)
          return outcome.success
        }
        const error = outcome.failure
        const verdict = yield* judge(attempt, error, yield* Clock.currentTimeMillis)
        yield* Metric.update(routedFor(attempt, error._tag), 1)
        if (verdict._tag === "Fail") return yield* error
        // A pinned account is never traded for another: its failure is the caller's.
        if (request.account !== undefined && verdict._tag === "SkipAccount") return yield* error
        yield* Metric.update(Metric.withAttributes(fallbacks, { reason: verdict.skip.reason }), 1)
        skipped.push(verdict.skip)
        if (verdict._tag === "SkipAccount") excluded.add(attempt.accountId)
        if (verdict._tag === "Next" && verdict.skip.reason === "unknown_model") {
          queue = queue.filter((next) => next.model !== attempt.model)
        }
        if (verdict._tag === "LargerContext") {
          const info = yield* Effect.option(catalog.resolve(attempt.model))
          contextAbove = Math.max(
            contextAbove ?? 0,
            Option.match(info, { onNone: () => 0, onSome: (m) => m.context_window ?? 0 })
          )
          const larger = yield* Effect.result(plan({ ...request, contextAbove }))
          if (larger._tag === "Failure") return yield* error
          queue = larger.success.attempts.filter((next) => !excluded.has(next.accountId))
        }
      }
      return yield* NoCandidate.fromSkipped(skipped)
    })

  const chatRequest = (attempt: Attempt, conversation: Conversation): ChatRequest.ChatRequest => ({
    ...conversation,
    model: attempt.model,
    ...(attempt.effort === undefined
      ? {}
      : { reasoningEffort: attempt.effort as ChatRequest.ChatRequest["reasoningEffort"] })
  })

  const callOf = (attempt: Attempt, options: TurnOptions): CodexClient.CallOptions => ({
    account: attempt.accountId as TokenSet.AccountId,
    ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry })
  })

  const execute = (
    request: RouteRequest,
    conversation: Conversation,
    options: TurnOptions = {}
  ): Effect.Effect<Routed, RouterError> =>
    through(request, (attempt, skipped, tried) =>
      Effect.scoped(
        Effect.andThen(
          pool.acquire(attempt.accountId),
          Effect.map(client.chat(chatRequest(attempt, conversation), callOf(attempt, options)), (result) => ({
            result,
            route: { served: attempt, skipped: [...skipped], attempts: tried }
          }))
        )
      )
    ).pipe((effect) => Tracing.traced(effect, "Router.execute"))

  const open = (
    request: RouteRequest,
    conversation: Conversation,
    options: TurnOptions = {}
  ): Effect.Effect<Opened, RouterError, Scope.Scope> =>
    Effect.flatMap(Effect.scope, (scope) =>
      // Each attempt in a scope of its own: closed when the attempt fails (its request and its
      // place in flight released before the next), kept with the turn once content came.
      through(request, (attempt, skipped, tried) =>
        Effect.flatMap(Scope.fork(scope), (attemptScope) =>
          Effect.gen(function* () {
            yield* pool.acquire(attempt.accountId)
            const pull = yield* client.open(chatRequest(attempt, conversation), callOf(attempt, options))
            // The client holds back everything but content: its first batch is the point of no return.
            const first = yield* Effect.catchIf(pull, Cause.isDone, () => Effect.undefined)
            const route: Taken = { served: attempt, skipped: [...skipped], attempts: tried }
            return { route, first, pull }
          }).pipe(
            Scope.provide(attemptScope),
            Effect.onError((cause) => Scope.close(attemptScope, Exit.failCause(cause)))
          )
        )
      )
    )

  const stream = (
    request: RouteRequest,
    conversation: Conversation,
    options: TurnOptions = {}
  ): Stream.Stream<ChatEvent.ChatEvent | RouteChosen, RouterError> =>
    Stream.unwrap(
      Effect.map(open(request, conversation, options), (opened) => {
        const head = Stream.fromIterable(headOf(opened))
        return opened.first === undefined ? head : Stream.concat(head, Stream.fromPull(Effect.succeed(opened.pull)))
      })
    )

  return Router.of({ plan, execute, stream, open })
})
