// The admin API: accounts, settings, clock, faults, scripted replies, counters and recorded requests.
import { Effect, Schema } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import {
  AccountInput,
  AccountPatch,
  ClockAdvance,
  FaultRule,
  Route,
  ScriptedReply,
  SettingsPatch
} from "../../Domain.ts"
import type { Core } from "../core.ts"
import { json } from "../reply.ts"
import { detail, parse, respond } from "./adapter.ts"

const decodeAdmin = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (body: unknown) =>
    decode(body).pipe(Effect.mapError((error) => detail(400, `Invalid admin request: ${error.message}`)))
}

/** The admin API (HTTP JSON under /__admin): the same operations the Emulator service offers in process. */
export const adminRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      const admin = router.prefixed("/__admin")
      const decodeAccount = decodeAdmin(AccountInput)
      const decodePatch = decodeAdmin(AccountPatch)
      const decodeFault = decodeAdmin(FaultRule)
      const decodeSettings = decodeAdmin(SettingsPatch)
      const decodeReplies = decodeAdmin(Schema.Array(ScriptedReply))
      const decodeRoute = decodeAdmin(Route)
      const decodeAdvance = decodeAdmin(ClockAdvance)
      const decodeDevice = decodeAdmin(
        Schema.Struct({
          user_code: Schema.String,
          account: Schema.optional(Schema.String),
          deny: Schema.optional(Schema.Boolean)
        })
      )
      const body = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.flatMap(parse(request), (parsed) =>
          parsed.bodyError
            ? Effect.fail(detail(400, `Invalid admin request: ${parsed.bodyError}`))
            : Effect.succeed(parsed.body ?? {})
        )
      const notFound = (id: string) =>
        detail(404, `No account ${JSON.stringify(id)}; add it first with POST /__admin/accounts.`)
      const handle = <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
        Effect.catch(effect, (error) =>
          Effect.succeed(HttpServerResponse.isHttpServerResponse(error) ? error : detail(500, String(error)))
        )

      yield* admin.add("GET", "/state", () =>
        Effect.sync(() =>
          respond(
            json(200, {
              issuer: core.issuer,
              now: core.now(),
              settings: core.settings,
              accounts: core.accountList(),
              replies: core.replies
            })
          )
        )
      )
      yield* admin.add("GET", "/accounts", () => Effect.sync(() => respond(json(200, core.accountList()))))
      yield* admin.add("POST", "/accounts", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeAccount), (input) => {
            const added = core.addAccount(input)
            return added.ok
              ? respond(json(201, added.account))
              : detail(
                  409,
                  `Account ${JSON.stringify(added.existing)} already exists; change it with PATCH /__admin/accounts/${added.existing}.`
                )
          })
        )
      )
      yield* admin.add("PATCH", "/accounts/:id", (request) =>
        handle(
          Effect.gen(function* () {
            const { id } = yield* HttpRouter.params
            const patch = yield* Effect.flatMap(body(request), decodePatch)
            const account = core.patchAccount(id!, patch)
            return account ? respond(json(200, account)) : notFound(id!)
          })
        )
      )
      yield* admin.add("POST", "/accounts/:id/expire-tokens", () =>
        Effect.map(HttpRouter.params, ({ id }) =>
          core.expireTokens(id!) ? respond(json(200, { ok: true })) : notFound(id!)
        )
      )
      yield* admin.add("POST", "/accounts/:id/revoke-tokens", () =>
        Effect.map(HttpRouter.params, ({ id }) =>
          core.revokeTokens(id!) ? respond(json(200, { ok: true })) : notFound(id!)
        )
      )
      yield* admin.add("POST", "/accounts/:id/tokens", () =>
        Effect.map(HttpRouter.params, ({ id }) =>
          core.findAccount(id!) ? respond(json(200, core.mintTokens(id!))) : notFound(id!)
        )
      )
      yield* admin.add("GET", "/accounts/:id/usage", () =>
        Effect.map(HttpRouter.params, ({ id }) => {
          const state = core.findAccount(id!)
          return state ? respond(json(200, core.usage(state))) : notFound(id!)
        })
      )
      yield* admin.add("POST", "/settings", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeSettings), (patch) => {
            const updated = core.updateSettings(patch)
            return updated.ok
              ? respond(json(200, updated.settings))
              : detail(400, `Invalid admin request: ${updated.problem}.`)
          })
        )
      )
      yield* admin.add("POST", "/clock/advance", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeAdvance), ({ seconds, ms }) =>
            respond(json(200, { now: core.advanceClock((seconds ?? 0) * 1000 + (ms ?? 0)) }))
          )
        )
      )
      yield* admin.add("POST", "/faults", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeFault), (rule) => {
            core.injectFault(rule)
            return respond(json(201, rule))
          })
        )
      )
      yield* admin.add("DELETE", "/faults", () =>
        Effect.sync(() => {
          core.clearFaults()
          return respond(json(200, { ok: true }))
        })
      )
      yield* admin.add("PUT", "/replies", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeReplies), (replies) => {
            core.setReplies(replies)
            return respond(json(200, replies))
          })
        )
      )
      yield* admin.add("POST", "/device/approve", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeDevice), (input) => {
            const account = input.account ?? core.settings.loginAccount
            const result = core.decideDevice(input.user_code, input.deny !== true, account)
            switch (result) {
              case "ok":
                return respond(json(200, { ok: true }))
              case "no_account":
                return notFound(account)
              default:
                return detail(404, `Device code ${JSON.stringify(input.user_code)} is ${result}.`)
            }
          })
        )
      )
      yield* admin.add("GET", "/counters", () => Effect.sync(() => respond(json(200, core.counters()))))
      yield* admin.add("GET", "/requests/:route", () =>
        handle(
          Effect.gen(function* () {
            const { route } = yield* HttpRouter.params
            const decoded = yield* decodeRoute(route)
            const last = core.lastRequest(decoded)
            return last ? respond(json(200, last)) : detail(404, `No ${decoded} request has been received yet.`)
          })
        )
      )
      yield* admin.add("POST", "/reset", () =>
        Effect.sync(() => {
          core.reset()
          return respond(json(200, { ok: true }))
        })
      )
    })
  )
