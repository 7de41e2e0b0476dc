// What the backend said, as an error of the family in Errors.ts (protocol §7–§8): a non-2xx
// answer with its body, or an in-stream `response.failed`.
import { Duration, Predicate } from "effect"
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

/**
 * The fields of the error body the backend sends (`{error: {type, code, message, plan_type,
 * resets_at}}`, or FastAPI's `{detail}`), each read on its own: one field of an unexpected type
 * must not hide the others (a usage limit with a numeric `code` is still a usage limit).
 */
const readErrorBody = (text: string) => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  const error = Predicate.isObject(json) && Predicate.isObject(json.error) ? json.error : {}
  const string = (value: unknown) => (Predicate.isString(value) && value.length > 0 ? value : undefined)
  return {
    type: string(error.type),
    code: string(error.code),
    message: string(error.message),
    planType: string(error.plan_type),
    resetsAt: Predicate.isNumber(error.resets_at) && Number.isFinite(error.resets_at) ? error.resets_at : undefined,
    detail: Predicate.isObject(json) ? string(json.detail) : undefined
  }
}

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
  // Seconds only (an HTTP-date, an empty or a negative value falls back to the message).
  const seconds = header === undefined || header.trim() === "" ? Number.NaN : Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return Duration.seconds(seconds)
  return message ? retryAfterFromMessage(message) : undefined
}

/** Maps a non-2xx answer and its body to its error (protocol §8). */
export const statusError = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  text: string,
  account: string
): BackendError => {
  const body = readErrorBody(text)
  const detail = body.message ?? body.detail ?? `HTTP ${status}`
  const retryAfter = retryAfterOf(headers["retry-after"], body.message)
  const withDelay = retryAfter === undefined ? {} : { retryAfter }
  if (status === 429 && (body.type === "usage_limit_reached" || body.code === "usage_limit_reached")) {
    return usageLimit(account, body.planType, body.resetsAt)
  }
  if (status === 429) return new RateLimited({ detail, ...withDelay })
  if (status === 401) return new Unauthorized({ account, detail })
  if (status >= 500 || status === 408) {
    return new UpstreamUnavailable({ reason: "server_error", detail, ...withDelay })
  }
  if (body.code === "context_length_exceeded") return new ContextLengthExceeded({ detail })
  return new InvalidRequest({ status, detail })
}
