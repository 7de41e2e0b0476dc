// What the Codex backend's routes share: the /backend-api prefix, the check of the bearer token and
// the account header, and the usage headers on every answer.
import { Effect } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import type { Route } from "../../Domain.ts"
import type { Core } from "../core.ts"
import type { AccountState } from "../state.ts"
import { detail, type ParsedRequest, recorded, respond } from "./adapter.ts"

/**
 * A handler for an authenticated route: checks the bearer token, then chatgpt-account-id against
 * the token's account, and puts the account's x-codex-* usage headers on whatever it answers.
 */
export const authenticated =
  (
    core: Core,
    route: Route,
    handle: (state: AccountState, parsed: ParsedRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse>
  ) =>
  (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function* () {
      const parsed = yield* recorded(core, route, request)
      const auth = core.authenticate(parsed.headers.authorization)
      if (!auth.ok) {
        core.count(route, undefined)
        return respond(auth.reply)
      }
      const { state } = auth
      core.count(route, state.account.id)
      const header = parsed.headers["chatgpt-account-id"]
      const response =
        header === undefined
          ? detail(403, "Missing chatgpt-account-id header: send the account id of the signed-in workspace.")
          : header !== state.account.id
            ? detail(403, "chatgpt-account-id does not match the account of the access token.")
            : yield* handle(state, parsed)
      // Read once the request has been charged, so /responses reports its own use.
      return HttpServerResponse.setHeaders(response, core.usageHeaders(state))
    })

/** A group of the Codex backend's routes, added under /backend-api. */
export const backendRoutes = <E, R>(add: (routed: HttpRouter.HttpRouter) => Effect.Effect<void, E, R>) =>
  HttpRouter.use((router) => add(router.prefixed("/backend-api")))
