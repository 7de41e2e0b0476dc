// The ChatGPT backend's account routes under /backend-api/wham: which backend serves an account
// (protocol §6.1) and its usage windows (§8).
import { Effect } from "effect"
import type { Core } from "../core.ts"
import { json } from "../reply.ts"
import { respond } from "./adapter.ts"
import { authenticated, backendRoutes } from "./backend.ts"
import { faulted } from "./faults.ts"

/**
 * The workspace origin the real backend answers for an ordinary account (protocol §6.1). It must be a
 * bare https origin: the real CLI fails every turn on anything else. A client whose model URL has
 * another origin than its ChatGPT base URL validates it and keeps its configured backend.
 */
const DEFAULT_WORKSPACE_ORIGIN = "https://chatgpt.com"

/** The ChatGPT backend's /wham routes (protocol §6.1, §8): accounts/check and usage. */
export const whamRoutes = (core: Core) =>
  backendRoutes(
    Effect.fnUntraced(function* (routed) {
      yield* routed.add(
        "GET",
        "/wham/accounts/check",
        authenticated(core, "accounts_check", (state) =>
          faulted(
            core,
            "accounts_check",
            state,
            Effect.sync(() => {
              const { id, routing } = state.account
              const entry = {
                id,
                workspace_backend_origin: routing?.origin ?? DEFAULT_WORKSPACE_ORIGIN,
                account_routing_override: routing?.override ?? "NO_CONSTRAINT"
              }
              return respond(json(200, { accounts: routing?.omit ? [] : [entry] }))
            })
          )
        )
      )

      yield* routed.add(
        "GET",
        "/wham/usage",
        authenticated(core, "usage", (state) =>
          faulted(
            core,
            "usage",
            state,
            Effect.sync(() => respond(json(200, core.usageStatus(state))))
          )
        )
      )
    })
  )
