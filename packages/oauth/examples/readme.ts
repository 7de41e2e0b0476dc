// OAuthClient.layer provides OAuthClient and needs nothing: its settings come from the environment
// (CODEX_ISSUER, CODEX_CLIENT_ID…) and it runs on Node's HTTP client. OAuthClient.layerWith(settings)
// takes the settings in code; OAuthClient.layerNoDeps needs an OAuthConfig and an HttpClient.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { OAuthClient } from "@nexus/oauth"
import { Effect } from "effect"

const program = Effect.gen(function* () {
  const oauth = yield* OAuthClient.OAuthClient
  const tokens = yield* oauth.loginWithDeviceCode() // or loginWithBrowser() where a browser can open
  yield* Effect.log(`signed in as ${tokens.email} (${tokens.planType})`) // the tokens stay Redacted
  const fresh = yield* oauth.refresh(tokens, "scheduled") // the refresh token rotates
  const { detail } = yield* oauth.revoke(fresh) // best effort, never fails
  yield* Effect.log(`revoked: ${detail}`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(OAuthClient.OAuthClient.layer)))
