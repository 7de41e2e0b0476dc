// HTTP adapters over the core: the auth service's routes, the backend's routes and the admin API,
// one module per group under routes/, put together here.
import { Layer } from "effect"
import type { Core } from "./core.ts"
import { adminRoutes } from "./routes/admin.ts"
import { deviceRoutes } from "./routes/device.ts"
import { issuerRoutes } from "./routes/issuer.ts"
import { modelsRoutes } from "./routes/models.ts"
import { responsesRoutes } from "./routes/responses.ts"
import { whamRoutes } from "./routes/wham.ts"

/** Every route of the emulator: the auth service (protocol §1–§3), the backend (§6–§9) and the admin API. */
export const routes = (core: Core) =>
  Layer.mergeAll(
    issuerRoutes(core),
    deviceRoutes(core),
    whamRoutes(core),
    modelsRoutes(core),
    responsesRoutes(core),
    adminRoutes(core)
  )
