// Credentials.layerConfig provides Credentials, TokenStore and OAuthClient, configured from the
// environment (NEXUS_TOKEN_KEY, CODEX_ISSUER, NEXUS_TOKEN_FILE…); it needs a PgClient, which
// Database.layer gives (DATABASE_URL), on a database `nexus db migrate` has migrated.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Database } from "@nexus/database"
import { Credentials, TokenStore } from "@nexus/token-store"
import { DateTime, Effect, Layer } from "effect"

const CredentialsLive = Credentials.Credentials.layerConfig.pipe(Layer.provide(Database.Database.layer))

const program = Effect.gen(function* () {
  const store = yield* TokenStore.TokenStore
  const credentials = yield* Credentials.Credentials
  for (const { tokens, label } of yield* store.list) {
    // Refreshed first when less than 5 minutes are left: once, fleet-wide, under the row lock.
    const fresh = yield* credentials.tokens(tokens.accountId)
    yield* Effect.log(`${label ?? fresh.email}: valid until ${DateTime.formatIso(fresh.expiresAt)}`)
  }
  const bearer = yield* credentials.accessToken("acme-pro") // by account id or label; Redacted
  yield* Effect.log(`acme-pro: ${bearer}`) // logs <redacted>, never the token
})

NodeRuntime.runMain(program.pipe(Effect.provide(CredentialsLive)))
