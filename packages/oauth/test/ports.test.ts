// The real callback ports of the browser sign-in (protocol §1): 1455, the /cancel handshake with an
// older listener, the fallback to 1457, and loopback-only listening. These ports are global to the
// machine, so the tests of this file run one after the other.
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { createServer } from "node:http"
import { connect } from "node:net"
import { networkInterfaces } from "node:os"
import { OAuthCallbackError } from "../src/Errors.ts"
import { OAuthClient } from "../src/OAuthClient.ts"
import { followRedirects, layer as oauthLayer } from "./helpers.ts"

const DEFAULT_REDIRECT = "http://localhost:1455/auth/callback"
const TIMEOUT = "20 seconds"

const redirectUriOf = (url: string) => new URL(url).searchParams.get("redirect_uri")

/** What a TCP connection attempt to host:port gives: "connected" or the error code. */
const tryConnect = (host: string, port: number) =>
  Effect.callback<string>((resume) => {
    const socket = connect({ host, port, timeout: 2_000 })
    const done = (result: string) => {
      socket.destroy()
      resume(Effect.succeed(result))
    }
    socket.once("connect", () => done("connected"))
    socket.once("timeout", () => done("ETIMEDOUT"))
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code ?? error.message))
  })

/** GET on the loopback callback server: status and body. */
const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  })

/** A foreign program on 127.0.0.1:port that answers 200 to everything, /cancel included, and keeps the port. */
const foreignServer = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly requests: Array<string>; readonly close: () => Promise<void> }>((resume) => {
      const requests: Array<string> = []
      const server = createServer((request, response) => {
        requests.push(`${request.method} ${request.url}`)
        response.writeHead(200, { "content-type": "text/plain" })
        response.end("ok")
      })
      server.once("error", (error) => resume(Effect.die(error)))
      server.listen(port, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            requests,
            close: () =>
              new Promise<void>((resolve) => {
                server.closeAllConnections()
                server.close(() => resolve())
              })
          })
        )
      )
    }),
    (server) => Effect.promise(server.close)
  )

/** The machine's non-loopback addresses, link-local IPv6 ones with their zone. */
const externalAddresses = () =>
  Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((address) => !address.internal)
      .map((address) =>
        address.family === "IPv6" && address.address.startsWith("fe80:")
          ? `${address.address}%${name}`
          : address.address
      )
  )

layer(oauthLayer({ redirectUri: DEFAULT_REDIRECT }), { excludeTestServices: true })("callback ports", (it) => {
  it.effect("a login listens on 127.0.0.1:1455 and sends redirect_uri http://localhost:1455/auth/callback", () =>
    Effect.gen(function* () {
      const oauth = yield* OAuthClient
      const seen = yield* Deferred.make<{
        readonly url: string
        readonly probe: { readonly status: number; readonly body: string }
      }>()
      const tokens = yield* oauth.loginWithBrowser({
        timeout: TIMEOUT,
        onUrl: () => Effect.void,
        openBrowser: (url) =>
          get("http://127.0.0.1:1455/auth/callback?state=not-this-login&code=x").pipe(
            Effect.flatMap((probe) => Deferred.succeed(seen, { url, probe })),
            Effect.andThen(followRedirects(url))
          )
      })
      const { url, probe } = yield* Deferred.await(seen)
      assert.strictEqual(redirectUriOf(url), DEFAULT_REDIRECT)
      // The server on 1455 is this login's callback server: a foreign state is refused, the login goes on.
      assert.deepStrictEqual(probe, { status: 400, body: "State mismatch" })
      assert.strictEqual(tokens.accountId, "00000000-0000-4000-8000-00000000c0de")
      // Single use: the port is free again once the login is over.
      assert.notStrictEqual(yield* tryConnect("127.0.0.1", 1455), "connected")
    })
  )

  it.effect(
    "when a foreign server holds 1455 it is sent GET /cancel, and the login falls back to 1457 and completes",
    () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const foreign = yield* foreignServer(1455)
        const seen = yield* Deferred.make<string>()
        const tokens = yield* oauth.loginWithBrowser({
          timeout: TIMEOUT,
          onUrl: () => Effect.void,
          openBrowser: (url) => Deferred.succeed(seen, url).pipe(Effect.andThen(followRedirects(url)))
        })
        const url = yield* Deferred.await(seen)
        assert.strictEqual(redirectUriOf(url), "http://localhost:1457/auth/callback")
        assert.include(foreign.requests, "GET /cancel")
        assert.deepStrictEqual(
          foreign.requests.filter((request) => !request.startsWith("GET /cancel")),
          [],
          "the foreign server got more than /cancel"
        )
        assert.strictEqual(tokens.planType, "plus")
      })
  )

  it.effect(
    "a second login cancels the first one holding 1455 (OAuthCallbackError cancelled) and completes on 1455",
    () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const firstListening = yield* Deferred.make<string>()
        const first = yield* oauth
          .loginWithBrowser({
            timeout: TIMEOUT,
            openBrowser: () => Effect.void,
            onUrl: (url) => Deferred.succeed(firstListening, url).pipe(Effect.asVoid)
          })
          .pipe(Effect.forkChild)
        const firstUrl = yield* Deferred.await(firstListening)
        assert.strictEqual(redirectUriOf(firstUrl), DEFAULT_REDIRECT)

        const secondUrl = yield* Deferred.make<string>()
        const tokens = yield* oauth.loginWithBrowser({
          timeout: TIMEOUT,
          onUrl: () => Effect.void,
          openBrowser: (url) => Deferred.succeed(secondUrl, url).pipe(Effect.andThen(followRedirects(url)))
        })
        const error = yield* Effect.flip(Fiber.join(first))
        assert.instanceOf(error, OAuthCallbackError)
        assert.strictEqual(error.reason, "cancelled")
        assert.include(error.message, "another login took over the callback port")
        assert.strictEqual(redirectUriOf(yield* Deferred.await(secondUrl)), DEFAULT_REDIRECT)
        assert.strictEqual(tokens.email, "dev@example.com")
      })
  )

  it.effect(
    "while the login waits, the callback server is unreachable on every non-loopback address and answers on 127.0.0.1",
    () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const addresses = externalAddresses()
        assert.isAbove(
          addresses.length,
          0,
          "this machine has no non-loopback address to check the callback server against"
        )
        const results = yield* Deferred.make<{ readonly loopback: string; readonly external: Record<string, string> }>()
        yield* oauth.loginWithBrowser({
          timeout: TIMEOUT,
          onUrl: () => Effect.void,
          openBrowser: (url) =>
            Effect.gen(function* () {
              const external: Record<string, string> = {}
              for (const address of addresses) external[address] = yield* tryConnect(address, 1455)
              yield* Deferred.succeed(results, { loopback: yield* tryConnect("127.0.0.1", 1455), external })
            }).pipe(Effect.andThen(followRedirects(url)))
        })
        const { loopback, external } = yield* Deferred.await(results)
        assert.strictEqual(loopback, "connected")
        for (const [address, result] of Object.entries(external)) {
          assert.notStrictEqual(result, "connected", `the callback server answered on ${address}`)
          assert.oneOf(result, ["ECONNREFUSED", "EADDRNOTAVAIL", "ENETUNREACH", "EHOSTUNREACH", "ETIMEDOUT"], address)
        }
      })
  )
})
