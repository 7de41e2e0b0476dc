// The loopback server that receives the browser's redirect (protocol §1): 127.0.0.1 only, the
// redirect URI's port or the registered fallback 1457, state compared before anything else,
// single use, one success page.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Deferred, Duration, Effect, Exit, Layer, Predicate, Scope } from "effect"
import { type HttpClient, HttpRouter, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import {
  CallbackServerError,
  type InvalidTokenResponse,
  OAuthCallbackError,
  type OAuthHttpError,
  OAuthTimeout
} from "../Errors.ts"
import type { Authorization } from "../OAuthClient.ts"
import { FALLBACK_CALLBACK_PORT } from "../OAuthConfig.ts"
import type { TokenSet } from "../TokenSet.ts"
import { errorPage, successPage } from "./pages.ts"

type CallbackFailure = OAuthCallbackError | OAuthHttpError | InvalidTokenResponse

export interface CallbackOptions {
  readonly redirectUri: string
  /** How long to wait for a callback whose state matches. */
  readonly timeout: Duration.Duration
  readonly client: HttpClient.HttpClient
  /** Builds the authorization once the port is known, and shows it to the user. */
  readonly start: (redirectUri: string) => Effect.Effect<Authorization>
  /** Validates the callback parameters and exchanges the code. */
  readonly complete: (params: URLSearchParams, authorization: Authorization) => Effect.Effect<TokenSet, CallbackFailure>
}

const ATTEMPTS_PER_PORT = 10
const RETRY_DELAY = Duration.millis(200)
/** How long to keep serving after the code exchange so that the browser can load /success. */
const SUCCESS_PAGE_GRACE = Duration.seconds(1)

const page = (body: string) =>
  HttpServerResponse.text(body, { contentType: "text/html; charset=utf-8", headers: { connection: "close" } })

export const runCallbackServer = Effect.fnUntraced(function* (options: CallbackOptions) {
  const configured = new URL(options.redirectUri)
  const preferredPort = Number(configured.port || 80)
  const loginScope = yield* Effect.scope
  const callbackArrived = yield* Deferred.make<void>()
  const outcome = yield* Deferred.make<TokenSet, CallbackFailure>()
  const successServed = yield* Deferred.make<void>()
  let authorization: Authorization | undefined
  let used = false

  const routes = HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      yield* router.add("GET", configured.pathname as `/${string}`, (request) =>
        Effect.gen(function* () {
          const params = new URLSearchParams(request.url.split("?")[1] ?? "")
          // The state is compared before anything else is read; a stray request does not end the login.
          if (authorization === undefined || params.get("state") !== authorization.state) {
            yield* Effect.logDebug("sign-in callback with a foreign state; still waiting")
            return HttpServerResponse.text("State mismatch", { status: 400 })
          }
          if (used) return HttpServerResponse.text("This sign-in callback was already used", { status: 400 })
          used = true
          yield* Deferred.succeed(callbackArrived, undefined)
          // The exchange runs in the login's scope, not in this request's fiber: a browser that
          // disconnects must not interrupt it and lose a code the issuer already consumed.
          yield* Effect.forkIn(
            Effect.flatMap(Effect.exit(options.complete(params, authorization)), (exit) =>
              Deferred.done(outcome, exit)
            ),
            loginScope
          )
          const result = yield* Effect.exit(Deferred.await(outcome))
          if (Exit.isSuccess(result)) {
            return HttpServerResponse.redirect(`${configured.protocol}//${configured.hostname}:${boundPort}/success`, {
              status: 302
            })
          }
          const error = result.cause.reasons.find((reason) => reason._tag === "Fail")?.error
          return page(errorPage(error ? error.message : "Sign-in failed unexpectedly; see the terminal."))
        })
      )
      yield* router.add("GET", "/success", () =>
        Effect.as(Deferred.succeed(successServed, undefined), page(successPage()))
      )
      yield* router.add("GET", "/cancel", () =>
        Effect.as(
          Deferred.fail(outcome, new OAuthCallbackError({ reason: "cancelled" })),
          HttpServerResponse.text("Login cancelled", { headers: { connection: "close" } })
        )
      )
    })
  )

  const listen = (port: number) =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
      )
      const exit = yield* Effect.exit(Layer.buildWithScope(server, scope))
      if (Exit.isSuccess(exit)) {
        yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
        return "listening" as const
      }
      yield* Scope.close(scope, exit)
      const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error
      const code = Predicate.hasProperty(failure?.cause, "code") ? String(failure.cause.code) : "unknown error"
      return code === "EADDRINUSE" ? ("busy" as const) : yield* new CallbackServerError({ ports: [port], detail: code })
    })

  // An older login may hold the port: ask it to /cancel, retry, then fall back (protocol §1).
  const cancelOlderLogin = (port: number) =>
    options.client.get(`http://127.0.0.1:${port}/cancel`).pipe(Effect.timeout(Duration.seconds(1)), Effect.ignore)

  const ports = preferredPort === FALLBACK_CALLBACK_PORT ? [preferredPort] : [preferredPort, FALLBACK_CALLBACK_PORT]
  let boundPort: number | undefined
  for (const port of ports) {
    for (let attempt = 1; attempt <= ATTEMPTS_PER_PORT && boundPort === undefined; attempt++) {
      if ((yield* listen(port)) === "listening") boundPort = port
      else {
        if (attempt === 1 && port === preferredPort) yield* cancelOlderLogin(port)
        yield* Effect.sleep(RETRY_DELAY)
      }
    }
    if (boundPort !== undefined) break
  }
  if (boundPort === undefined) {
    return yield* new CallbackServerError({ ports, detail: "address already in use" })
  }
  yield* Effect.logDebug("listening for the sign-in callback", { port: boundPort })

  const redirectUri = new URL(options.redirectUri)
  redirectUri.port = String(boundPort)
  authorization = yield* options.start(redirectUri.toString())
  yield* Deferred.await(callbackArrived).pipe(
    Effect.raceFirst(Effect.asVoid(Deferred.await(outcome))),
    Effect.timeoutOrElse({
      duration: options.timeout,
      orElse: () => Effect.fail(new OAuthTimeout({ flow: "browser", seconds: Duration.toSeconds(options.timeout) }))
    })
  )
  const tokens = yield* Deferred.await(outcome)
  yield* Deferred.await(successServed).pipe(Effect.timeout(SUCCESS_PAGE_GRACE), Effect.ignore)
  return tokens
})
