// What the backend said, as an error of the family in Errors.ts (protocol §7–§8): a non-2xx
// answer with its body, or an in-stream `response.failed`.
import { Duration, Option, Schema } from "effect"
import type * as ChatEvent from "../ChatEvent.ts"
import {
  type BackendError,
  ContextLengthExceeded,
  InvalidRequest,
  RateLimited,
  Unauthorized,
  UpstreamUnavailable,
  UsageLimitReached
} from "../Errors.ts"
import { retryAfterFromMessage } from "./decode.ts"

/** The error body the backend sends (`{error: {…}}`, or FastAPI's `{detail}`); every field optional. */
const ErrorBody = Schema.Struct({
  error: Schema.optional(
    Schema.Struct({
      type: Schema.optional(Schema.NullOr(Schema.String)),
      code: Schema.optional(Schema.NullOr(Schema.String)),
      message: Schema.optional(Schema.NullOr(Schema.String)),
      plan_type: Schema.optional(Schema.NullOr(Schema.String)),
      resets_at: Schema.optional(Schema.NullOr(Schema.Finite))
    })
  ),
  detail: Schema.optional(Schema.Unknown)
})

const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))

const usageLimit = (account: string, plan: string | null | undefined, resetsAt: number | null | undefined) =>
  new UsageLimitReached({
    account,
    ...(plan ? { plan } : {}),
    ...(resetsAt !== undefined && resetsAt !== null ? { resetsAt } : {})
  })

/** Maps a `response.failed` event to its error (protocol §7). */
export const failedError = (event: ChatEvent.Failed, account: string): BackendError => {
  if (event.code === "context_length_exceeded") return new ContextLengthExceeded({ detail: event.message })
  if (event.code === "usage_limit_reached" || event.errorType === "usage_limit_reached") {
    return usageLimit(account, event.planType, event.resetsAt)
  }
  if (event.code === "insufficient_quota" || event.code === "usage_not_included") {
    return new InvalidRequest({ status: 200, detail: event.message })
  }
  if (event.code === "rate_limit_exceeded") {
    return new RateLimited({
      detail: event.message,
      ...(event.retryAfter ? { retryAfter: event.retryAfter } : {})
    })
  }
  return new UpstreamUnavailable({
    reason: "response_failed",
    detail: `response.failed ${event.code}: ${event.message}`
  })
}

/** The delay an answer asks for: its `Retry-After` seconds, else "try again in …" in its message. */
const retryAfterOf = (header: string | undefined, message: string | null | undefined) => {
  const seconds = header === undefined ? Number.NaN : Number(header)
  if (Number.isFinite(seconds)) return Duration.seconds(seconds)
  return message ? retryAfterFromMessage(message) : undefined
}

/** Maps a non-2xx answer and its body to its error (protocol §8). */
export const statusError = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  text: string,
  account: string
): BackendError => {
  const body: typeof ErrorBody.Type = Option.getOrElse(decodeErrorBody(text), () => ({}))
  const error = body.error
  const detail = error?.message ?? (typeof body.detail === "string" ? body.detail : `HTTP ${status}`)
  const retryAfter = retryAfterOf(headers["retry-after"], error?.message)
  const withDelay = retryAfter === undefined ? {} : { retryAfter }
  if (status === 429 && (error?.type === "usage_limit_reached" || error?.code === "usage_limit_reached")) {
    return usageLimit(account, error.plan_type, error.resets_at)
  }
  if (status === 429) return new RateLimited({ detail, ...withDelay })
  if (status === 401) return new Unauthorized({ account, detail })
  if (status >= 500 || status === 408) {
    return new UpstreamUnavailable({ reason: "server_error", detail, ...withDelay })
  }
  if (error?.code === "context_length_exceeded") return new ContextLengthExceeded({ detail })
  return new InvalidRequest({ status, detail })
}
