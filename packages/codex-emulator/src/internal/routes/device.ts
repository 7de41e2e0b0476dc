// The device-code routes (protocol §2): the user code, the polling, and the page that approves it.
import { Effect } from "effect"
import { HttpRouter } from "effect/http"
import type { Core } from "../core.ts"
import { devicePage, messagePage } from "../pages.ts"
import { bodyOf, html, parse, queryOf, recorded, respond } from "./adapter.ts"
import { faulted } from "./faults.ts"

/** The auth service's device-code routes (protocol §2), with the page a person approves a code on. */
export const deviceRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      yield* router.add("POST", "/api/accounts/deviceauth/usercode", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "usercode", request)
          core.count("usercode", undefined)
          return yield* faulted(
            core,
            "usercode",
            undefined,
            Effect.sync(() => respond(core.requestUserCode(bodyOf(parsed))))
          )
        })
      )

      yield* router.add("POST", "/api/accounts/deviceauth/token", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "device_token", request)
          core.count("device_token", undefined)
          return yield* faulted(
            core,
            "device_token",
            undefined,
            Effect.sync(() => respond(core.pollDevice(bodyOf(parsed))))
          )
        })
      )

      yield* router.add("GET", "/codex/device", (request) =>
        Effect.sync(() =>
          html(devicePage(core.accountList(), core.settings.loginAccount, queryOf(request.url).user_code ?? ""))
        )
      )

      yield* router.add("POST", "/codex/device", (request) =>
        Effect.gen(function* () {
          const form = bodyOf(yield* parse(request))
          const code = String(form.user_code ?? "")
          const approve = form.decision === "approve"
          // Without an account field the login account approves, as with the admin shortcut.
          const account = form.account ? String(form.account) : core.settings.loginAccount
          const result = core.decideDevice(code, approve, account)
          if (result !== "ok") {
            const notice = result === "no_account" ? `No account ${account}.` : "That code is not valid or has expired."
            return html(devicePage(core.accountList(), core.settings.loginAccount, code, notice), 400)
          }
          return html(
            approve
              ? messagePage("Device signed in", "You can close this window and return to your terminal.")
              : messagePage("Sign-in denied", "The device was not signed in.")
          )
        })
      )

      yield* router.add("GET", "/deviceauth/callback", () =>
        Effect.sync(() => html(messagePage("Signed in", "You can close this window.")))
      )
    })
  )
