/**
 * Everything a Codex turn can fail with, as one family: each error says what happened and what to
 * do next, knows whether trying again may help (`isRetryable`) and, when the backend said, after
 * how long (`retryAfter`, a Duration). A router reads {@link isRetryable} and {@link retryAfter}
 * to decide between waiting, another account and giving up, whatever the error's origin
 * (the backend, the catalog or the credentials).
 *
 * @since 0.1.0
 */
import type { Credentials } from "@nexus/token-store"
import { Duration, Option, Schema } from "effect"
import type { UnknownModel } from "./ModelCatalog.ts"

/**
 * A wait in the units a person reads: "45 s", "3 min 20 s", "2 h 5 min".
 *
 * @since 0.1.0
 * @category formatting
 */
export const humanDelay = (delay: Duration.Duration): string => {
  const seconds = Math.ceil(Duration.toMillis(delay) / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`
  const hours = Math.floor(minutes / 60)
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
}

/**
 * The first line of what went wrong: messages may go on with details nobody asked for (a driver's
 * error may carry its query and parameters). For logs and error details.
 *
 * @since 0.1.0
 * @category formatting
 */
export const firstLine = (error: unknown): string => {
  const message =
    typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string"
      ? (error as { message: string }).message
      : String(error)
  return message.split("\n")[0]!
}

/**
 * The plan's usage limit is reached: not retried on this account; it resets at `resetsAt`.
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
  /** Not on this account before `resetsAt`: another account may serve the turn. */
  get isRetryable(): boolean {
    return false
  }
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
  /** How long the backend asked to wait (`Retry-After`, or "try again in …" in its message). */
  retryAfter: Schema.optional(Schema.Duration),
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return true
  }
  override get message() {
    return `The Codex backend is rate limiting (${this.detail}); try again${this.retryAfter === undefined ? " shortly" : ` in ${humanDelay(this.retryAfter)}`}.`
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
  get isRetryable(): boolean {
    return false
  }
  override get message() {
    return `The Codex backend refused the sign-in of ${this.account} (${this.detail}) even after refreshing it: run \`nexus login\` for it.`
  }
}

/**
 * The backend refused the request itself (4xx, or a plan that does not include it): retrying the
 * same request cannot help.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  status: Schema.Finite,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
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
  get isRetryable(): boolean {
    return false
  }
  override get message() {
    return `The conversation is too long for the model's context window (${this.detail}): shorten it or pick a model with a larger window.`
  }
}

/**
 * Why the backend was unavailable.
 *
 * @since 0.1.0
 * @category models
 */
export const UnavailableReason = Schema.Literals([
  /** No answer at all: connection refused, reset, DNS… */
  "unreachable",
  /** No headers, or no data between chunks, within the idle limit. */
  "idle",
  /** A 5xx or 408 answer. */
  "server_error",
  /** The stream broke or closed before `response.completed`. */
  "stream_cut",
  /** An event that could not be decoded. */
  "malformed_event",
  /** `response.failed` with a code that is not one of the others. */
  "response_failed"
])

/**
 * @since 0.1.0
 * @category models
 */
export type UnavailableReason = typeof UnavailableReason.Type

/**
 * The backend could not be reached or failed (5xx, overloaded, cut or idle stream), and the
 * bounded retries did not get through.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamUnavailable extends Schema.TaggedError<UpstreamUnavailable>()("UpstreamUnavailable", {
  reason: UnavailableReason,
  detail: Schema.String,
  retryAfter: Schema.optional(Schema.Duration)
}) {
  get isRetryable(): boolean {
    return true
  }
  override get message() {
    return `The Codex backend is unavailable: ${this.detail}. Try again shortly.`
  }
}

/**
 * What the backend itself can fail a turn with.
 *
 * @since 0.1.0
 * @category errors
 */
export type BackendError =
  | UsageLimitReached
  | RateLimited
  | Unauthorized
  | InvalidRequest
  | ContextLengthExceeded
  | UpstreamUnavailable

/**
 * Everything `chat` and `stream` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type CodexError = BackendError | UnknownModel | Credentials.CredentialsError

/**
 * Whether the same turn may pass when tried again (on the same account, after {@link retryAfter}
 * when there is one): rate limits, an unavailable backend, a credential store or issuer that
 * failed for a passing reason. Usage limits, refusals, unknown models and sign-ins that need a new
 * login are not.
 *
 * @since 0.1.0
 * @category classifiers
 */
export const isRetryable = (error: CodexError): boolean => {
  switch (error._tag) {
    case "TokenStoreUnavailable":
    case "OAuthHttpError":
      return error.retryable
    case "UnknownModel":
    case "ReauthenticationRequired":
    case "TokenNotFound":
      return false
    default:
      return error.isRetryable
  }
}

/**
 * How long the backend (or the issuer) asked to wait before trying again, when it said.
 *
 * @since 0.1.0
 * @category classifiers
 */
export const retryAfter = (error: CodexError): Option.Option<Duration.Duration> => {
  switch (error._tag) {
    case "RateLimited":
    case "UpstreamUnavailable":
      return Option.fromUndefinedOr(error.retryAfter)
    case "OAuthHttpError":
      return error.retryAfter === undefined ? Option.none() : Option.some(Duration.seconds(error.retryAfter))
    default:
      return Option.none()
  }
}
