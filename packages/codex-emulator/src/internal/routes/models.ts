// The model catalog route (protocol §9), with its ETag for If-None-Match.
import { Effect } from "effect"
import { HttpServerResponse } from "effect/http"
import type { Core } from "../core.ts"
import { modelsBody, modelsEtag } from "../models.ts"
import { authenticated, backendRoutes } from "./backend.ts"
import { faulted } from "./faults.ts"

/** The Codex backend's /codex/models (protocol §9). */
export const modelsRoutes = (core: Core) =>
  backendRoutes((routed) =>
    routed.add(
      "GET",
      "/codex/models",
      authenticated(core, "models", (state, parsed) =>
        faulted(
          core,
          "models",
          state,
          Effect.sync(() => {
            const headers = { etag: modelsEtag, "cache-control": "no-cache" }
            return parsed.headers["if-none-match"] === modelsEtag
              ? HttpServerResponse.empty({ status: 304, headers })
              : HttpServerResponse.text(modelsBody, { contentType: "application/json", headers })
          })
        )
      )
    )
  )
