// Shared setup for the oauth tests: an emulator on loopback and an OAuthClient pointed at it.
import { Emulator } from "@nexus/codex-emulator"
import { Effect, Layer } from "effect"
import { createServer } from "node:net"
import { OAuthClient } from "../src/OAuthClient.ts"
import type { Input } from "../src/OAuthConfig.ts"

/** A port that was free a moment ago (the callback server of one test file binds it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

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
