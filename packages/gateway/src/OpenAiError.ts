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
import { Duration } from "effect"
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
}

/**
 * The body of an error response.
 *
 * @since 0.1.0
 * @category encoding
 */
export const body = (error: OpenAiError) => ({
  error: { message: error.message, type: error.type, param: error.param, code: error.code }
})

/**
 * The request body is not JSON, or not the shape the endpoint takes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalidBody = (detail: string): OpenAiError => ({
  status: 400,
  type: "invalid_request_error",
  code: null,
  param: null,
  message: `The request body is not valid: ${detail}`
})

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
 * Anything a gateway request can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure =
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
    case "InvalidApiKey":
      return { ...base, status: 401, type: "invalid_request_error", code: "invalid_api_key" }
    case "KeysUnavailable":
      return { ...base, status: 503, type: "server_error", code: "keys_unavailable" }
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
    case "NoCandidate": {
      if (failure.isRetryable) {
        return {
          ...base,
          status: 429,
          type: "rate_limit_error",
          code: "usage_limit_reached",
          ...(failure.earliestUsable === undefined ? {} : { retryAfter: secondsUntil(failure.earliestUsable, now) })
        }
      }
      // Nothing passes by waiting (no account signed in, a plan without the model…): the service
      // cannot serve, and the message says what to do.
      return { ...base, status: 503, type: "server_error", code: "no_account" }
    }
    case "UsageLimitReached":
      return {
        ...base,
        status: 429,
        type: "rate_limit_error",
        code: "usage_limit_reached",
        ...(failure.resetsAt === undefined ? {} : { retryAfter: secondsUntil(failure.resetsAt * 1000, now) })
      }
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
