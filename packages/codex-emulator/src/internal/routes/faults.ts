// How a route applies the fault it takes: an answer in place of its own, or its own answer late.
import { Duration, Effect } from "effect"
import { HttpServerResponse } from "effect/http"
import { type FaultKind, type FaultRule, type Route, routeFaultKinds } from "../../Domain.ts"
import type { Core } from "../core.ts"
import { codedError, json } from "../reply.ts"
import type { AccountState } from "../state.ts"
import { respond } from "./adapter.ts"

/** The answer of a fault that replaces a route's reply. */
const faultReply = (core: Core, rule: FaultRule, state: AccountState | undefined) => {
  switch (rule.kind) {
    case "unauthorized":
      return respond(
        codedError(401, "token_expired", "Provided authentication token is expired. Please try signing in again.")
      )
    case "usage_limit":
      // routeFaultKinds offers usage_limit only on routes that authenticate an account.
      return respond(core.usageLimitReply(state!, rule.resetsInSeconds))
    case "rate_limit": {
      const seconds = rule.retryAfterSeconds ?? 1
      return respond(
        json(
          429,
          {
            error: {
              type: "rate_limit_exceeded",
              code: "rate_limit_exceeded",
              message: `Rate limit reached. Please try again in ${seconds}s.`
            }
          },
          rule.retryAfterHeader === false ? {} : { "retry-after": String(seconds) }
        )
      )
    }
    case "bad_gateway":
      return HttpServerResponse.text("<html><body><h1>502 Bad Gateway</h1></body></html>", {
        status: 502,
        contentType: "text/html"
      })
    case "overloaded":
      return respond(
        json(503, {
          error: {
            type: "server_error",
            code: "server_is_overloaded",
            message: "Our servers are currently overloaded. Please try again later."
          }
        })
      )
    default:
      // server_error: the routes hand faultReply no other kind.
      return respond(
        json(rule.status ?? 500, {
          error: { type: "server_error", message: "An error occurred while processing your request.", code: null }
        })
      )
  }
}

/**
 * Answers with `answer` unless the route takes a fault of `kinds` (by default every kind the route
 * can apply): slow_first_byte holds `answer` back, any other kind answers in its place.
 */
export const faulted = (
  core: Core,
  route: Route,
  state: AccountState | undefined,
  answer: Effect.Effect<HttpServerResponse.HttpServerResponse>,
  kinds: ReadonlyArray<FaultKind> = routeFaultKinds[route]
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.suspend(() => {
    const rule = core.takeFault(route, state?.account.id, kinds)
    if (rule === undefined) return answer
    return rule.kind === "slow_first_byte"
      ? Effect.delay(answer, Duration.millis(rule.delayMs ?? 1_000))
      : Effect.succeed(faultReply(core, rule, state))
  })
