// The issuer's routes (protocol §1, §3): discovery, authorize, token and revoke.
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { faultKindGroups } from "../../Domain.ts"
import type { Core } from "../core.ts"
import { approvalPage, messagePage } from "../pages.ts"
import { json } from "../reply.ts"
import { bodyOf, html, parse, recorded, respond } from "./adapter.ts"
import { faulted } from "./faults.ts"

/** The auth service's routes (protocol §1–§3) but the device code: authorize, token, revoke. */
export const issuerRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      yield* router.add("GET", "/.well-known/jwks.json", () => Effect.sync(() => respond(json(200, core.jwks()))))
      yield* router.add("GET", "/.well-known/openid-configuration", () =>
        Effect.sync(() =>
          respond(
            json(200, {
              issuer: core.issuer,
              authorization_endpoint: `${core.issuer}/oauth/authorize`,
              token_endpoint: `${core.issuer}/oauth/token`,
              revocation_endpoint: `${core.issuer}/oauth/revoke`,
              jwks_uri: `${core.issuer}/.well-known/jwks.json`,
              id_token_signing_alg_values_supported: ["RS256"],
              device_authorization_endpoint: `${core.issuer}/api/accounts/deviceauth/usercode`,
              response_types_supported: ["code"],
              grant_types_supported: [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange"
              ],
              code_challenge_methods_supported: ["S256"],
              token_endpoint_auth_methods_supported: ["none"],
              scopes_supported: ["openid", "profile", "email", "offline_access"]
            })
          )
        )
      )

      yield* router.add("GET", "/oauth/authorize", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "authorize", request)
          core.count("authorize", undefined)
          return yield* faulted(
            core,
            "authorize",
            undefined,
            Effect.sync(() => {
              const outcome = core.authorize(parsed.query)
              switch (outcome._tag) {
                case "Error":
                  return respond(outcome.reply)
                case "Redirect":
                  return HttpServerResponse.redirect(outcome.location, { status: 302 })
                case "Interactive":
                  return html(
                    approvalPage(
                      outcome.pending,
                      core.accountList(),
                      parsed.query.emulator_account ?? core.settings.loginAccount
                    )
                  )
              }
            })
          )
        })
      )

      yield* router.add("POST", "/oauth/authorize/decision", (request) =>
        Effect.gen(function* () {
          const form = bodyOf(yield* parse(request))
          const location = core.decidePending(
            String(form.request_id ?? ""),
            String(form.account ?? core.settings.loginAccount),
            form.decision === "approve"
          )
          return location === undefined
            ? html(
                messagePage("Request expired", "This sign-in request is no longer pending. Start the sign-in again."),
                400
              )
            : HttpServerResponse.redirect(location, { status: 302 })
        })
      )

      yield* router.add("POST", "/oauth/token", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "token", request)
          const body = bodyOf(parsed)
          const account = core.tokenAccount(body)
          core.count("token", account?.account.id)
          if (parsed.bodyError)
            return respond(json(400, { error: "invalid_request", error_description: parsed.bodyError }))
          // Any grant can meet a reply fault here; core.token takes the refresh grant's own faults.
          return yield* faulted(
            core,
            "token",
            account,
            Effect.sync(() => respond(core.token(body))),
            faultKindGroups.reply
          )
        })
      )

      yield* router.add("POST", "/oauth/revoke", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "revoke", request)
          core.count("revoke", undefined)
          return yield* faulted(
            core,
            "revoke",
            undefined,
            Effect.sync(() => respond(core.revoke(bodyOf(parsed))))
          )
        })
      )
    })
  )
