// Shared setup for the oauth tests: an emulator on loopback and an OAuthClient pointed at it.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Emulator } from "@nexus/codex-emulator"
import { Ports } from "@nexus/testing"
import { Effect, Layer } from "effect"
import { HttpClient } from "effect/http"
import { OAuthClient } from "../src/OAuthClient.ts"
import { type Input, OAuthConfig } from "../src/OAuthConfig.ts"

/** A request the OAuthClient sent: its URL, and when it went out (`performance.now()`, in ms). */
export interface SentRequest {
  readonly url: string
  readonly at: number
}

/**
 * The emulator and an OAuthClient that signs in against it, with the callback on `redirectUri`
 * (registered with the emulator) and any other settings the test gives. With `sent`, every request
 * the client sends is appended to it as it goes out.
 */
export const layer = (options: {
  readonly redirectUri: string
  readonly emulator?: Emulator.Options | undefined
  readonly client?: Input | undefined
  readonly sent?: Array<SentRequest> | undefined
}) => {
  const EmulatorLive = Emulator.Emulator.layer({
    ...options.emulator,
    redirectUris: [options.redirectUri, ...(options.emulator?.redirectUris ?? [])]
  })
  const ClientLive = Layer.unwrap(
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const input: Input = { issuer: emulator.urls.issuer, redirectUri: options.redirectUri, ...options.client }
      return options.sent === undefined ? OAuthClient.layerWith(input) : recordingClient(input, options.sent)
    })
  )
  return Layer.provideMerge(ClientLive, EmulatorLive)
}

/** OAuthClient.layerWith, on an HttpClient that appends every request to `sent` as it goes out. */
const recordingClient = (input: Input, sent: Array<SentRequest>) =>
  Layer.fresh(OAuthClient.layerNoDeps).pipe(
    Layer.provide(OAuthConfig.layer(input)),
    Layer.provide(
      Layer.effect(HttpClient.HttpClient)(
        Effect.map(
          HttpClient.HttpClient,
          HttpClient.tapRequest((request) =>
            Effect.sync(() => void sent.push({ url: request.url, at: performance.now() }))
          )
        )
      )
    ),
    Layer.provide(NodeHttpClient.layerUndici)
  )

/**
 * Waits until the emulator has counted `count` requests on `route`. The emulator counts a request
 * as it arrives, before it answers: a test that must act while a request is in flight, or after
 * the client has polled so many times, waits for this instead of sleeping and hoping.
 */
export const untilCounted = (emulator: Emulator.Emulator["Service"], route: string, count: number) =>
  Effect.gen(function* () {
    while (((yield* emulator.counters).requests[route]?.total ?? 0) < count) yield* Effect.sleep("5 millis")
  })

/** Plays the browser without a browser: follows the emulator's auto-approve redirect into the callback server. */
export const followRedirects = (url: string) =>
  Effect.promise(() => fetch(url).then((response) => response.text())).pipe(Effect.asVoid)

/** The payload of a JWT, decoded for assertions. */
export const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>

/** A free loopback port (shared helper). */
export const freePort = Ports.freePort
