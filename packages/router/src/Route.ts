/**
 * What the router is asked (its own input type: the worker maps a queue message to it) and what it
 * answers: a plan of attempts, each skipped candidate with its reason, or `NoCandidate`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Complexity } from "./RoutingPolicy.ts"

/**
 * A request to route.
 *
 * @since 0.1.0
 * @category models
 */
export const RouteRequest = Schema.Struct({
  taskType: Schema.String,
  complexity: Complexity,
  /** Pins the model (a slug or an alias): no other model is tried; accounts may still change. */
  model: Schema.optional(Schema.NonEmptyString),
  /** Pins the account (its label or ChatGPT account id): no other account is tried. */
  account: Schema.optional(Schema.NonEmptyString),
  /** The reasoning effort to ask for, over the policy's. */
  effort: Schema.optional(Schema.NonEmptyString),
  /** Requests with the same key go to the same account while it has room (prompt caching). */
  promptCacheKey: Schema.optional(Schema.String),
  /** Only models whose context window is larger than this (after a `ContextLengthExceeded`). */
  contextAbove: Schema.optional(Schema.Finite)
})

/**
 * @since 0.1.0
 * @category models
 */
export type RouteRequest = typeof RouteRequest.Type

/**
 * Why a candidate (a model, on an account when the reason is the account's) was not planned.
 *
 * @since 0.1.0
 * @category models
 */
export const SkipReason = Schema.Literals([
  /** The model is neither in the catalog nor an alias of one (or a selector the catalog cannot answer). */
  "unknown_model",
  /** The same model and effort came earlier in the list. */
  "duplicate",
  /** The model's context window is not larger than the conversation needs. */
  "context_too_small",
  /** The account must sign in again (`nexus login`). */
  "reauth_required",
  /** The account was disabled. */
  "disabled",
  /** The model is not available on the account's plan. */
  "plan_excludes_model",
  /** The account hit its usage limit (a `usage_limit_reached` answer): blocked until the reset. */
  "usage_limit",
  /** One of the account's usage windows is at 100 %: blocked until it resets. */
  "window_full",
  /** The (account, model) pair failed repeatedly and is cooling down. */
  "cooling_down",
  /** The account has as many requests in flight as this process allows it. */
  "at_capacity",
  /** No signed-in account matches the pinned one. */
  "unknown_account",
  /** No account is signed in at all. */
  "no_account",
  /** No rule of the policy matches the request. */
  "no_rule",
  /** An attempt failed (rate limited, or the backend unavailable, after the client's own retries). */
  "failed"
])

/**
 * @since 0.1.0
 * @category models
 */
export type SkipReason = typeof SkipReason.Type

/**
 * A skipped candidate.
 *
 * @since 0.1.0
 * @category models
 */
export const Skip = Schema.Struct({
  /** The model as the policy or the request named it. */
  model: Schema.String,
  effort: Schema.optional(Schema.String),
  /** The account, when the reason is the account's (its label, else its id). */
  account: Schema.optional(Schema.String),
  reason: SkipReason,
  detail: Schema.String,
  /** When the candidate becomes usable again, when that is known (Unix milliseconds). */
  until: Schema.optional(Schema.Finite)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Skip = typeof Skip.Type

/**
 * One planned attempt: a model (its catalog slug), the effort to ask for, an account.
 *
 * @since 0.1.0
 * @category models
 */
export interface Attempt {
  readonly model: string
  /** As the policy or request named the model (an alias, a selector). */
  readonly requested: string
  readonly effort: string | undefined
  readonly accountId: string
  readonly label: string | undefined
}

/**
 * A plan: the attempts in order (every account of the first model, then the next model), the
 * candidates skipped on the way, and the rule that chose the candidates.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly attempts: readonly [Attempt, ...Array<Attempt>]
  readonly skipped: ReadonlyArray<Skip>
  /** The index of the policy rule that matched, or "pinned" for an explicit model. */
  readonly rule: number | "pinned"
}

const when = (millis: number) => new Date(millis).toISOString()

/** The reasons that pass with time. */
const TRANSIENT: ReadonlySet<SkipReason> = new Set<SkipReason>([
  "usage_limit",
  "window_full",
  "cooling_down",
  "at_capacity",
  "failed"
])

/**
 * No candidate can serve the request now: why each was skipped, and the earliest time one of them
 * becomes usable again, when that is known.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoCandidate extends Schema.TaggedError<NoCandidate>()("NoCandidate", {
  skipped: Schema.Array(Skip),
  /** Unix milliseconds. */
  earliestUsable: Schema.optional(Schema.Finite)
}) {
  /** The failure for these skipped candidates: the earliest time one becomes usable, when known. */
  static fromSkipped(skipped: ReadonlyArray<Skip>): NoCandidate {
    let earliest: number | undefined
    for (const skip of skipped) {
      if (skip.until !== undefined && (earliest === undefined || skip.until < earliest)) earliest = skip.until
    }
    return new NoCandidate({ skipped, ...(earliest === undefined ? {} : { earliestUsable: earliest }) })
  }

  /**
   * Waiting may help: some candidate is held back by something that passes (a usage limit or a
   * full window, a cooldown, a full account, a failure of the backend), not by a sign-in, a plan or
   * the policy.
   */
  get isRetryable(): boolean {
    return this.skipped.some((skip) => TRANSIENT.has(skip.reason))
  }
  override get message() {
    if (this.skipped.length > 0 && this.skipped.every((skip) => skip.reason === "no_account")) {
      return "No ChatGPT account is signed in: run `nexus login`."
    }
    const reasons = [...new Set(this.skipped.map((skip) => skip.reason))].join(", ")
    const wait =
      this.earliestUsable === undefined
        ? "sign in another account (`nexus login`) or change the routing policy"
        : `the first one becomes usable at ${when(this.earliestUsable)}`
    return `No model and account can serve this request now (${reasons}): ${wait}. \`nexus route --explain\` shows each candidate.`
  }
}
