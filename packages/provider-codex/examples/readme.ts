// CodexClient.layer provides CodexClient (and the ModelCatalog and UsageWindows it uses), configured
// from the environment (CODEX_BASE_URL, NEXUS_CODEX_*…); it needs Credentials and a PgClient, which
// Credentials.layerConfig (@nexus/token-store) and Database.layer (@nexus/database) give.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Database } from "@nexus/database"
import { CodexClient } from "@nexus/provider-codex"
import { Credentials, TokenStore } from "@nexus/token-store"
import { Effect, Layer } from "effect"

const CodexLive = CodexClient.CodexClient.layer.pipe(
  Layer.provideMerge(Credentials.Credentials.layerConfig), // also TokenStore
  Layer.provideMerge(Database.Database.layer)
)

const program = Effect.gen(function* () {
  const { tokens } = yield* (yield* TokenStore.TokenStore).get("acme-pro") // a label, resolved once
  const codex = yield* CodexClient.CodexClient
  const reply = yield* codex.chat(
    { model: "gpt-5-codex", reasoningEffort: "low", messages: [{ role: "user", content: "Say hello" }] },
    { account: tokens.accountId, attempts: 3 } // transient failures retried, 401 recovered once
  )
  yield* Effect.log(`${reply.model}: ${reply.text}`, reply.usage)
})

NodeRuntime.runMain(program.pipe(Effect.provide(CodexLive)))
