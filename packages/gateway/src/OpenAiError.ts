/**
 * Every failure of a gateway request in the OpenAI error shape (`{ error: { message, type, param,
 * code } }`) with the status an OpenAI client acts on: 400 for a request to change, 401 for a key,
 * 404 for a model, 429 with `Retry-After` when no account can serve until a reset, 502/503 when the
 * backend fails. The message is the typed error's own (what happened, what to do); never a stack
 * trace or a token.
 *
 * @since 0.1.0
 */
import { Errors, type ModelCatalog } from "@nexus/provider-codex"
import type { Route } from "@nexus/router"
import { Duration, Schema } from "effect"
import type { InvalidApiKey, KeysUnavailable } from "./ApiKeys.ts"
import type { UnsupportedRequest } from "./OpenAiChat.ts"

/**
 * An error as the gateway answers it.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenAiError {
  readonly status: number
  readonly type: string
  readonly code: string | null
  readonly param: string | null
  readonly message: string
  /** Seconds, for `Retry-After`. */
  readonly retryAfter?: number | undefined
  /** Unix seconds: when a usage limit resets (the `resets_at` the Codex CLI reads on a 429). */
  readonly resetsAt?: number | undefined
}

/**
 * The body of an error response.
 *
 * @since 0.1.0
 * @category encoding
 */
export const body = (error: OpenAiError) => ({
  error: {
    message: error.message,
    type: error.type,
    param: error.param,
    code: error.code,
    ...(error.resetsAt === undefined ? {} : { resets_at: error.resetsAt })
  }
})

/**
 * The request body is not JSON, not the shape the endpoint takes, or too large.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidBody extends Schema.TaggedError<InvalidBody>()("InvalidBody", {
  detail: Schema.String,
  tooLarge: Schema.optional(Schema.Boolean)
}) {
  override get message() {
    return `The request body is not valid: ${this.detail}`
  }
}

/**
 * A path or method the gateway does not serve.
 *
 * @since 0.1.0
 * @category constructors
 */
export const notFound = (method: string, path: string): OpenAiError => ({
  status: 404,
  type: "invalid_request_error",
  code: "unknown_url",
  param: null,
  message: `Unknown request URL: ${method} ${path}. This gateway serves POST /v1/chat/completions, POST /v1/responses and GET /v1/models.`
})

/** Whole seconds from now until `at` (Unix milliseconds), at least 1. */
const secondsUntil = (at: number, now: number) => Math.max(1, Math.ceil((at - now) / 1000))

/**
 * A usage limit in the shape the Codex CLI recognises as one (`type: usage_limit_reached` with
 * `resets_at`), which OpenAI clients read as a 429 with `Retry-After`.
 */
const usageLimit = (message: string, resetsAtMs: number | undefined, now: number): OpenAiError => ({
  status: 429,
  type: "usage_limit_reached",
  code: "usage_limit_reached",
  param: null,
  message,
  ...(resetsAtMs === undefined
    ? {}
    : { retryAfter: secondsUntil(resetsAtMs, now), resetsAt: Math.ceil(resetsAtMs / 1000) })
})

/**
 * No candidate could serve: by what held them back, most passing first — a failing backend (502),
 * rate limits and cooldowns (429), usage limits (429 until the earliest reset); then the caller's
 * own choices (400: an account or a task type nothing matches); else nothing waiting can fix (503).
 */
const noCandidate = (failure: Route.NoCandidate, now: number): OpenAiError => {
  const reasons = new Set(failure.skipped.map((skip) => skip.reason))
  const base = { param: null, message: failure.message }
  const wait = failure.earliestUsable === undefined ? {} : { retryAfter: secondsUntil(failure.earliestUsable, now) }
  if (reasons.has("failed"))
    return { ...base, ...wait, status: 502, type: "server_error", code: "upstream_unavailable" }
  if (reasons.has("cooling_down") || reasons.has("at_capacity")) {
    return { ...base, ...wait, status: 429, type: "rate_limit_error", code: "rate_limit_exceeded" }
  }
  if (reasons.has("usage_limit") || reasons.has("window_full"))
    return usageLimit(failure.message, failure.earliestUsable, now)
  if (reasons.has("unknown_account")) {
    return { ...base, status: 400, type: "invalid_request_error", code: "unknown_account", param: "x-nexus-account" }
  }
  if (reasons.has("no_rule")) {
    return { ...base, status: 400, type: "invalid_request_error", code: "no_rule", param: "x-nexus-task-type" }
  }
  return { ...base, status: 503, type: "server_error", code: "no_account" }
}

/**
 * Anything a gateway request can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure =
  | InvalidBody
  | InvalidApiKey
  | KeysUnavailable
  | UnsupportedRequest
  | Route.NoCandidate
  | ModelCatalog.UnknownModel
  | Errors.CodexError

/**
 * The OpenAI error for `failure`, at `now` (Unix milliseconds).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFailure = (failure: Failure, now: number): OpenAiError => {
  const base = { param: null, message: failure.message }
  switch (failure._tag) {
    case "InvalidBody":
      return failure.tooLarge === true
        ? { ...base, status: 413, type: "invalid_request_error", code: "request_too_large" }
        : { ...base, status: 400, type: "invalid_request_error", code: null }
    case "InvalidApiKey":
      return { ...base, status: 401, type: "invalid_request_error", code: "invalid_api_key" }
    case "KeysUnavailable":
      // What the database said stays in the gateway's log: the caller may not even hold a key.
      return {
        ...base,
        status: 503,
        type: "server_error",
        code: "keys_unavailable",
        message: "The gateway cannot check API keys right now (its database is unreachable): try again shortly."
      }
    case "UnsupportedRequest":
      return {
        ...base,
        status: 400,
        type: "invalid_request_error",
        code: "unsupported_parameter",
        param: failure.param ?? null
      }
    case "UnknownModel":
      return {
        ...base,
        status: 404,
        type: "invalid_request_error",
        code: "model_not_found",
        param: "model",
        message: `The model \`${failure.model}\` does not exist on this gateway: use one of ${failure.available.join(", ")}, an alias (GET /v1/models), or auto.`
      }
    case "NoCandidate":
      return noCandidate(failure, now)
    case "UsageLimitReached":
      return usageLimit(base.message, failure.resetsAt === undefined ? undefined : failure.resetsAt * 1000, now)
    case "RateLimited":
      return {
        ...base,
        status: 429,
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        ...(failure.retryAfter === undefined
          ? {}
          : { retryAfter: Math.max(1, Math.ceil(Duration.toSeconds(failure.retryAfter))) })
      }
    case "InvalidRequest":
      return { ...base, status: 400, type: "invalid_request_error", code: null }
    case "ContextLengthExceeded":
      return { ...base, status: 400, type: "invalid_request_error", code: "context_length_exceeded", param: "messages" }
    case "UpstreamUnavailable":
      return {
        ...base,
        status: failure.reason === "unreachable" ? 503 : 502,
        type: "server_error",
        code: "upstream_unavailable"
      }
    default:
      // The account's sign-in or the token store (Credentials): a server-side problem the operator fixes.
      return {
        ...base,
        status: Errors.isRetryable(failure) ? 503 : 502,
        type: "server_error",
        code: "upstream_credentials"
      }
  }
}
