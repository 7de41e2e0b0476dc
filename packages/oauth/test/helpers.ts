// Shared setup for the oauth tests: an emulator on loopback and an OAuthClient pointed at it.
import { Emulator } from "@nexus/codex-emulator"
import { Ports } from "@nexus/testing"
import { Effect, Layer } from "effect"
import { OAuthClient } from "../src/OAuthClient.ts"
import type { Input } from "../src/OAuthConfig.ts"

/**
 * The emulator and an OAuthClient that signs in against it, with the callback on `redirectUri`
 * (registered with the emulator) and any other settings the test gives.
 */
export const layer = (options: {
  readonly redirectUri: string
  readonly emulator?: Emulator.Options | undefined
  readonly client?: Input | undefined
}) => {
  const EmulatorLive = Emulator.Emulator.layer({
    ...options.emulator,
    redirectUris: [options.redirectUri, ...(options.emulator?.redirectUris ?? [])]
  })
  const ClientLive = Layer.unwrap(
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      return OAuthClient.layerWith({
        issuer: emulator.urls.issuer,
        redirectUri: options.redirectUri,
        ...options.client
      })
    })
  )
  return Layer.provideMerge(ClientLive, EmulatorLive)
}

/** Plays the browser without a browser: follows the emulator's auto-approve redirect into the callback server. */
export const followRedirects = (url: string) =>
  Effect.promise(() => fetch(url).then((response) => response.text())).pipe(Effect.asVoid)

/** The payload of a JWT, decoded for assertions. */
export const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>

/** A free loopback port (shared helper). */
export const freePort = Ports.freePort
