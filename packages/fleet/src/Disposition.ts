/**
 * What the worker does with a request whose turn failed: put it off and try again (a backoff,
 * bounded in attempts; a usage limit on every account, until the earliest reset), or answer it
 * with an error result at once — never past its deadline.
 *
 * @since 0.1.0
 */
import { Errors } from "@nexus/provider-codex"
import type { Route, Router } from "@nexus/router"
import { Duration, Option } from "effect"
import type { Failure } from "./Turn.ts"

/**
 * How retries are bounded and spaced.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetrySettings {
  /** Deliveries of a request after which a retryable failure becomes its (retryable) error result. */
  readonly maxAttempts: number
  /** The first backoff; doubled at each delivery. */
  readonly backoffBase: Duration.Duration
  /** The longest backoff. */
  readonly backoffMax: Duration.Duration
}

/**
 * The decision for a failed turn: `Wait` until `until` (Unix ms) and try again, or `Answer` with
 * the failure.
 *
 * @since 0.1.0
 * @category models
 */
export type Disposition =
  | {
      readonly _tag: "Wait"
      readonly until: number
      /** A usage limit's reset, or a backoff after a failure. */
      readonly kind: "usage_limit" | "backoff"
      readonly reason: string
    }
  | { readonly _tag: "Answer"; readonly failure: Failure }

/**
 * What is known of the request when its turn failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  /** Unix ms. */
  readonly now: number
  /** Which delivery this was (1 for the first). */
  readonly attempt: number
  /** Unix ms, when the request has one. */
  readonly deadline: number | undefined
  readonly settings: RetrySettings
}

/** Limits that pass at a known time: waiting for them is not a failed attempt. */
const LIMITS: ReadonlySet<Route.SkipReason> = new Set<Route.SkipReason>(["usage_limit", "window_full"])

/** Reasons about the candidate, not the account: they say nothing of whether waiting helps. */
const NEUTRAL: ReadonlySet<Route.SkipReason> = new Set<Route.SkipReason>([
  "duplicate",
  "unknown_model",
  "context_too_small",
  "plan_excludes_model"
])

const failureOf = (error: Router.RouterError, retryable: boolean, resetsAt?: number): Failure => ({
  tag: error._tag,
  message: error.message,
  retryable,
  ...(resetsAt === undefined ? {} : { resetsAt }),
  ...(error._tag === "NoCandidate" ? { skipped: error.skipped } : {})
})

/** The backoff before delivery `attempt + 1`: base · 2^(attempt − 1), at most the maximum. */
const backoff = (attempt: number, settings: RetrySettings) =>
  Math.min(
    Duration.toMillis(settings.backoffMax),
    Duration.toMillis(settings.backoffBase) * 2 ** Math.min(30, Math.max(0, attempt - 1))
  )

/**
 * Waits until `until` when the deadline allows it, else answers: the wait would end past the
 * deadline, so the request's sender gets the failure (and when it would pass) now.
 */
const waitOrAnswer = (
  context: Context,
  until: number,
  kind: "usage_limit" | "backoff",
  reason: string,
  failure: Failure
): Disposition => {
  // A reset already past (a stale answer, a clock ahead of the backend's) is no reason to come
  // straight back: never sooner than the first backoff.
  const at = Math.max(until, context.now + Duration.toMillis(context.settings.backoffBase))
  return context.deadline !== undefined && at >= context.deadline
    ? { _tag: "Answer", failure }
    : { _tag: "Wait", until: at, kind, reason }
}

/**
 * The decision for a turn that failed with `error`.
 *
 * - Every candidate held back by a usage limit (or a full window): wait until the earliest reset
 *   (at least the first backoff), never given up by count. Each wait is a delivery, though, and
 *   deliveries are what `maxAttempts` counts: a request that waited for resets has fewer retries
 *   left for other failures afterwards.
 * - Something that passes (a cooldown, a rate limit, the backend unavailable, the token store
 *   away): back off, up to `maxAttempts` deliveries, then answer with `retryable: true`.
 * - Anything else (a refused request, a model that does not exist, every account needing a
 *   sign-in): answer at once, with what to do.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decide = (error: Router.RouterError, context: Context): Disposition => {
  const { now, attempt, settings } = context
  const retry = (earliest: number | undefined, failure: Failure): Disposition => {
    if (attempt >= settings.maxAttempts) return { _tag: "Answer", failure }
    const until = Math.max(now + backoff(attempt, settings), earliest ?? 0)
    return waitOrAnswer(
      context,
      until,
      "backoff",
      `${error._tag}, attempt ${attempt} of ${settings.maxAttempts}`,
      failure
    )
  }
  switch (error._tag) {
    case "NoCandidate": {
      const held = error.skipped.filter((skip) => !NEUTRAL.has(skip.reason))
      if (error.earliestUsable !== undefined && held.length > 0 && held.every((skip) => LIMITS.has(skip.reason))) {
        const failure = failureOf(error, true, error.earliestUsable)
        return waitOrAnswer(
          context,
          error.earliestUsable,
          "usage_limit",
          "every account is at its usage limit",
          failure
        )
      }
      if (error.isRetryable) return retry(error.earliestUsable, failureOf(error, true))
      return { _tag: "Answer", failure: failureOf(error, false) }
    }
    case "UsageLimitReached": {
      // The pinned account's limit: wait for its reset (or probe it again in five minutes).
      const until = error.resetsAt === undefined ? now + 5 * 60_000 : error.resetsAt * 1000
      return waitOrAnswer(
        context,
        until,
        "usage_limit",
        "the pinned account is at its usage limit",
        failureOf(error, true, until)
      )
    }
    default: {
      if (!Errors.isRetryable(error)) return { _tag: "Answer", failure: failureOf(error, false) }
      const after = Option.map(Errors.retryAfter(error), (delay) => now + Duration.toMillis(delay))
      return retry(Option.getOrUndefined(after), failureOf(error, true))
    }
  }
}

/**
 * The answer for a request whose deadline passed before its turn finished (or started).
 *
 * @since 0.1.0
 * @category constructors
 */
export const deadlinePassed = (deadline: number, started: boolean): Failure => ({
  tag: "DeadlineExceeded",
  message: `The request's deadline (${new Date(deadline).toISOString()}) passed ${started ? "before its turn finished" : "before a worker could start it"}; nothing more was sent upstream. Send it again with a later deadline.`,
  retryable: false
})
