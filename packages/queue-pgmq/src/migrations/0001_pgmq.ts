// pgmq itself: the extension when the server offers it, else Nexus's compatible install
// (PgmqInstall). An existing extension or SQL-only install is used as it is.
import { Effect } from "effect"
import { install } from "../PgmqInstall.ts"

export default Effect.gen(function* () {
  const installed = yield* install
  yield* Effect.logInfo(`pgmq: ${installed.description}`)
})
