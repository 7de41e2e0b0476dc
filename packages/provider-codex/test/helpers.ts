// The real parts every provider test runs on: the emulator (strict), a scratch database, and
// Credentials (store, key, OAuth) over both.
import { NodeHttpClient } from "@effect/platform-node"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient } from "@nexus/oauth"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, TokenStore } from "@nexus/token-store"
import { Effect, Layer } from "effect"

/** `service(urls)` over HttpClient, Credentials, the store and the emulator. */
export const withBackend = <A, E, R>(service: (urls: Emulator.Urls) => Layer.Layer<A, E, R>) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      return service(emulator.urls).pipe(
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provideMerge(Credentials.Credentials.layer),
        Layer.provideMerge(TokenStore.TokenStore.layerPg),
        Layer.provide(Crypto.Crypto.layerRandom),
        Layer.provide(OAuthClient.OAuthClient.layerWith({ issuer: emulator.urls.issuer }))
      )
    })
  ).pipe(
    Layer.provideMerge(TestDatabase.layer()),
    Layer.provideMerge(Emulator.Emulator.layer({ settings: { strict: true } }))
  )
