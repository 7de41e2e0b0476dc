// The real parts every provider test runs on: the emulator (strict), a scratch database, and
// Credentials (store, key, OAuth) over both.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, Migrations as TokenStoreMigrations, TokenStore } from "@nexus/token-store"
import { Duration, Effect, Layer, Option } from "effect"
import type { ChatRequest } from "../src/ChatRequest.ts"
import { CodexClient } from "../src/CodexClient.ts"
import * as Migrations from "../src/Migrations.ts"
import { ModelCatalog } from "../src/ModelCatalog.ts"
import { UsageWindows } from "../src/UsageWindows.ts"

/** `service(urls)` over HttpClient, Credentials, the store and the emulator. */
export const withBackend = <A, E, R>(service: (urls: Emulator.Urls) => Layer.Layer<A, E, R>) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      return service(emulator.urls).pipe(
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provideMerge(
          Credentials.Credentials.layerStack({
            crypto: Crypto.Crypto.layerRandom,
            oauth: OAuthClient.OAuthClient.layerWith({ issuer: emulator.urls.issuer }),
            sources: "postgres"
          })
        )
      )
    })
  ).pipe(
    Layer.provideMerge(TestDatabase.layer({ migrations: [TokenStoreMigrations.migrations, Migrations.migrations] })),
    Layer.provideMerge(Emulator.Emulator.layer({ settings: { requireInstructions: true } }))
  )

/** The client (fast backoff) over the emulator, with usage windows and the catalog in the scratch database. */
export const ClientLive = withBackend((urls) =>
  CodexClient.layerNoDeps({ baseUrl: urls.codexBaseUrl, baseDelay: Duration.millis(10) }).pipe(
    Layer.provideMerge(UsageWindows.layer),
    Layer.provideMerge(ModelCatalog.layer({ baseUrl: urls.codexBaseUrl })),
    Layer.provide(NodeHttpClient.layerDispatcher)
  )
)

/** A one-message request to the default model. */
export const request = (text: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: "gpt-5.5",
  messages: [{ role: "user", content: text }],
  ...extra
})

/** A fresh account signed in, the client, and the count of /responses requests since. */
export const setup = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  yield* emulator.clearFaults
  const account = yield* emulator.addAccount({
    email: `c-${Math.random().toString(36).slice(2)}@example.com`,
    budget: { primary: 1e6, secondary: 1e6 }
  })
  yield* (yield* TokenStore.TokenStore).put(yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens(account.id)))
  const before = (yield* emulator.counters).requests.responses?.byAccount[account.id] ?? 0
  const requests = Effect.map(
    emulator.counters,
    (counters) => (counters.requests.responses?.byAccount[account.id] ?? 0) - before
  )
  return { emulator, account: TokenSet.AccountId.make(account.id), requests, client: yield* CodexClient }
})

/** The last /responses request the emulator received. */
export const sent = Effect.flatMap(Emulator.Emulator, (emulator) =>
  Effect.map(emulator.lastRequest("responses"), (received) => Option.getOrThrow(received))
)

/** The body of the last /responses request. */
export const sentBody = Effect.map(sent, (received) => received.body as Record<string, unknown>)
