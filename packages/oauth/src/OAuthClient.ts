/**
 * Sign in with ChatGPT exactly as the Codex CLI does (protocol §1–§3): the browser flow with PKCE
 * and a loopback callback, the device-code flow for headless machines, refresh and revoke.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Console, Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { type HttpClient, HttpClientRequest } from "effect/http"
import * as oauth from "oauth4webapi"
import {
  type CallbackServerError,
  DeviceCodeError,
  InvalidTokenResponse,
  OAuthCallbackError,
  type OAuthHttpError,
  OAuthTimeout,
  RefreshRejected
} from "./Errors.ts"
import { runCallbackServer } from "./internal/callback.ts"
import { openSystemBrowser } from "./internal/browser.ts"
import {
  authClient,
  authorizationServer,
  clientAuthentication,
  answerError,
  httpError,
  oauthOptions,
  readError,
  transportError
} from "./internal/wire.ts"
import { OAuthConfig } from "./OAuthConfig.ts"
import { fromTokenResponse, TokenResponse, type TokenSet } from "./TokenSet.ts"

/**
 * A prepared browser sign-in: the URL to open, and the secrets to finish it with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Authorization {
  readonly url: string
  readonly state: string
  readonly redirectUri: string
  readonly verifier: Redacted.Redacted<string>
}

/**
 * Why a refresh happens; sent as `refresh_reason` (protocol §3).
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshReason = "proactive_expiry" | "scheduled" | "unauthorized_recovery"

/**
 * What the device-code flow shows the user.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceCodePrompt {
  readonly verificationUrl: string
  readonly userCode: string
  readonly expiresIn: Duration.Duration
}

/**
 * Options of the browser sign-in.
 *
 * @since 0.1.0
 * @category models
 */
export interface BrowserLoginOptions {
  /** true (default) opens the system browser when there is one; a function opens the URL itself. */
  readonly openBrowser?: boolean | ((url: string) => Effect.Effect<void>) | undefined
  /** Shows the URL to the user (always called); prints it by default. */
  readonly onUrl?: ((url: string) => Effect.Effect<void>) | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * Options of the device-code sign-in.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceLoginOptions {
  /** Shows the verification URL and the code; prints them by default. */
  readonly onCode?: ((prompt: DeviceCodePrompt) => Effect.Effect<void>) | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * The outcome of a best-effort revoke: logout goes on either way.
 *
 * @since 0.1.0
 * @category models
 */
export interface RevokeOutcome {
  readonly revoked: boolean
  readonly detail: string
}

/**
 * Signing in with ChatGPT.
 *
 * @since 0.1.0
 * @category services
 */
export class OAuthClient extends Context.Service<
  OAuthClient,
  {
    /** A browser sign-in URL with every parameter the Codex CLI sends, a fresh state and PKCE pair. */
    readonly authorize: (redirectUri?: string) => Effect.Effect<Authorization>
    readonly loginWithBrowser: (
      options?: BrowserLoginOptions
    ) => Effect.Effect<
      TokenSet,
      OAuthCallbackError | OAuthTimeout | OAuthHttpError | InvalidTokenResponse | CallbackServerError
    >
    readonly loginWithDeviceCode: (
      options?: DeviceLoginOptions
    ) => Effect.Effect<TokenSet, DeviceCodeError | OAuthTimeout | OAuthHttpError | InvalidTokenResponse>
    readonly exchangeCode: (
      code: string,
      verifier: Redacted.Redacted<string>,
      redirectUri: string
    ) => Effect.Effect<TokenSet, OAuthHttpError | InvalidTokenResponse>
    /** Refreshes a sign-in; the result keeps what the answer leaves out. */
    readonly refresh: (
      tokens: TokenSet,
      reason: RefreshReason
    ) => Effect.Effect<TokenSet, RefreshRejected | OAuthHttpError | InvalidTokenResponse>
    /** Revokes the refresh token (else the access token); never fails. */
    readonly revoke: (
      tokens: Pick<TokenSet, "refreshToken"> | Pick<TokenSet, "accessToken">
    ) => Effect.Effect<RevokeOutcome>
  }
>()("@nexus/oauth/OAuthClient") {
  /**
   * The client, given its settings and an HttpClient.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerNoDeps: Layer.Layer<OAuthClient, never, OAuthConfig | HttpClient.HttpClient> = Layer.effect(
    OAuthClient
  )(
    Effect.gen(function* () {
      const settings = yield* OAuthConfig
      const client = yield* authClient
      const as = authorizationServer(settings)
      const oauthClient: oauth.Client = { client_id: settings.clientId }
      const clientAuth = clientAuthentication(settings)

      const authorize = Effect.fn("OAuthClient.authorize")(function* (redirectUri: string = settings.redirectUri) {
        const verifier = oauth.generateRandomCodeVerifier()
        const challenge = yield* Effect.promise(() => oauth.calculatePKCECodeChallenge(verifier))
        const state = oauth.generateRandomState()
        const url = new URL(as.authorization_endpoint!)
        url.search = new URLSearchParams({
          response_type: "code",
          client_id: settings.clientId,
          redirect_uri: redirectUri,
          scope: settings.scope,
          code_challenge: challenge,
          code_challenge_method: "S256",
          id_token_add_organizations: "true",
          codex_cli_simplified_flow: "true",
          state,
          originator: settings.originator
        }).toString()
        return {
          url: url.toString(),
          state,
          redirectUri,
          verifier: Redacted.make(verifier, { label: "pkce_verifier" })
        }
      })

      // The code exchange itself: oauth4webapi builds the form request (protocol §1) and validates the
      // answer, id token claims included; the fields a ChatGPT sign-in needs are then decoded with Schema.
      const exchange = Effect.fnUntraced(function* (
        callback: URLSearchParams,
        verifier: Redacted.Redacted<string>,
        redirectUri: string
      ) {
        yield* Effect.logDebug("exchanging the authorization code")
        // The current fiber's context, so that the request's span is a child of this one.
        const options = oauthOptions(client, settings, yield* Effect.context<never>())
        const response = yield* Effect.tryPromise({
          try: (signal) =>
            oauth.authorizationCodeGrantRequest(
              as,
              oauthClient,
              clientAuth,
              callback,
              redirectUri,
              Redacted.value(verifier),
              { ...options, signal }
            ),
          catch: transportError("the code exchange")
        }).pipe(
          Effect.timeoutOrElse({
            duration: settings.requestTimeout,
            orElse: () => Effect.fail(transportError("the code exchange")({ _tag: "TimeoutError" }))
          })
        )
        if (!response.ok) {
          const body = yield* Effect.promise(() => response.text())
          return yield* answerError(
            "the code exchange",
            response.status,
            body,
            response.headers.get("retry-after") ?? undefined
          )
        }
        const raw = yield* Effect.tryPromise({
          try: () => response.clone().json() as Promise<unknown>,
          catch: () => new InvalidTokenResponse({ field: "body", problem: "is not JSON" })
        })
        const decoded = yield* Schema.decodeUnknownEffect(TokenResponse)(raw).pipe(
          Effect.mapError((error) => new InvalidTokenResponse({ field: "body", problem: error.message }))
        )
        // Our own check first, so that a missing field is named; then oauth4webapi's validation.
        const tokens = yield* fromTokenResponse(decoded)
        yield* Effect.tryPromise({
          try: () => oauth.processAuthorizationCodeResponse(as, oauthClient, response),
          catch: (cause) =>
            new InvalidTokenResponse({
              field: "token response",
              problem: `failed validation (${cause instanceof Error ? cause.message : "unknown"})`
            })
        })
        yield* Effect.logDebug("signed in", {
          account: tokens.accountId,
          plan: tokens.planType,
          expiresAt: tokens.expiresAt
        })
        return tokens
      })

      const exchangeCode = Effect.fn("OAuthClient.exchangeCode")(
        (code: string, verifier: Redacted.Redacted<string>, redirectUri: string) =>
          exchange(
            oauth.validateAuthResponse(as, oauthClient, new URLSearchParams({ code }), oauth.skipStateCheck),
            verifier,
            redirectUri
          )
      )

      // The browser's callback, after the state matched: an `error` ends the login (with the
      // missing-entitlement hint), a missing code too; otherwise the code is exchanged.
      const complete = Effect.fnUntraced(function* (params: URLSearchParams, authorization: Authorization) {
        const error = params.get("error")
        if (error) {
          const detail = params.get("error_description") ?? error
          return yield* new OAuthCallbackError({
            reason:
              error === "access_denied" && detail.includes("missing_codex_entitlement")
                ? "missing_entitlement"
                : "denied",
            detail
          })
        }
        if (!params.get("code")) return yield* new OAuthCallbackError({ reason: "missing_code" })
        const callback = yield* Effect.try({
          try: () => oauth.validateAuthResponse(as, oauthClient, params, authorization.state),
          catch: (cause) =>
            new OAuthCallbackError({
              reason: "denied",
              detail: cause instanceof Error ? cause.message : "invalid callback"
            })
        })
        return yield* exchange(callback, authorization.verifier, authorization.redirectUri)
      })

      const loginWithBrowser = Effect.fn("OAuthClient.loginWithBrowser")(function* (login: BrowserLoginOptions = {}) {
        const onUrl =
          login.onUrl ?? ((url: string) => Console.log(`Sign in with ChatGPT in your browser:\n\n  ${url}\n`))
        const open = login.openBrowser ?? true
        return yield* runCallbackServer({
          redirectUri: settings.redirectUri,
          // The time limit covers waiting for the callback; the code exchange has its own.
          timeout: Duration.fromInputUnsafe(login.timeout ?? settings.loginTimeout),
          client,
          complete,
          start: Effect.fnUntraced(function* (redirectUri: string) {
            const authorization = yield* authorize(redirectUri)
            yield* onUrl(authorization.url)
            if (open === true) yield* openSystemBrowser(authorization.url)
            // A caller's opener runs alongside: the login neither waits for it nor ends it.
            else if (typeof open === "function") yield* Effect.forkDetach(open(authorization.url))
            return authorization
          })
        }).pipe(Effect.scoped)
      })

      const post = (url: string, body: unknown) =>
        HttpClientRequest.post(url).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyJsonUnsafe(body),
          client.execute,
          Effect.timeout(settings.requestTimeout)
        )

      const DeviceCode = Schema.Struct({
        device_auth_id: Schema.String,
        user_code: Schema.optional(Schema.String),
        usercode: Schema.optional(Schema.String),
        interval: Schema.optional(Schema.Union([Schema.String, Schema.Finite]))
      })
      const DeviceGrant = Schema.Struct({
        authorization_code: Schema.String,
        code_challenge: Schema.String,
        code_verifier: Schema.String
      })

      const loginWithDeviceCode = Effect.fn("OAuthClient.loginWithDeviceCode")(function* (
        login: DeviceLoginOptions = {}
      ) {
        const timeout = Duration.fromInputUnsafe(login.timeout ?? settings.deviceCodeTimeout)
        const onCode =
          login.onCode ??
          ((prompt: DeviceCodePrompt) =>
            Console.log(
              `To sign in, open ${prompt.verificationUrl} and enter the code ${prompt.userCode} (valid ${Duration.format(prompt.expiresIn)}).`
            ))
        const response = yield* post(`${settings.issuer}/api/accounts/deviceauth/usercode`, {
          client_id: settings.clientId
        }).pipe(Effect.mapError(transportError("the device code request")))
        if (response.status === 404) return yield* new DeviceCodeError({ reason: "not_enabled" })
        if (response.status < 200 || response.status >= 300)
          return yield* yield* httpError("the device code request", response)
        const device = yield* response.json.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(DeviceCode)),
          Effect.mapError(
            (error) => new DeviceCodeError({ reason: "failed", detail: `unexpected answer: ${error.message}` })
          )
        )
        const userCode = device.user_code ?? device.usercode
        if (!userCode) return yield* new DeviceCodeError({ reason: "failed", detail: "the answer has no user_code" })
        // The server's interval (a string of seconds), never below the floor: "0" must not mean a busy loop.
        const seconds = Number(device.interval ?? 5)
        const interval = Duration.max(
          Duration.seconds(Number.isFinite(seconds) && seconds >= 0 ? seconds : 5),
          settings.minimumPollInterval
        )
        yield* onCode({ verificationUrl: `${settings.issuer}/codex/device`, userCode, expiresIn: timeout })

        const poll = Effect.gen(function* () {
          while (true) {
            const answer = yield* post(`${settings.issuer}/api/accounts/deviceauth/token`, {
              device_auth_id: device.device_auth_id,
              user_code: userCode
            }).pipe(Effect.mapError(transportError("polling the device code")))
            if (answer.status === 403 || answer.status === 404) {
              yield* Effect.sleep(interval)
              continue
            }
            if (answer.status >= 200 && answer.status < 300) {
              return yield* answer.json.pipe(
                Effect.flatMap(Schema.decodeUnknownEffect(DeviceGrant)),
                Effect.mapError(
                  (error) => new DeviceCodeError({ reason: "failed", detail: `unexpected answer: ${error.message}` })
                )
              )
            }
            const { code, message } = readError(yield* answer.text.pipe(Effect.orElseSucceed(() => "")))
            return yield* new DeviceCodeError({
              reason: code === "access_denied" ? "denied" : code === "expired_token" ? "expired" : "failed",
              detail: message ?? `HTTP ${answer.status}`
            })
          }
        })
        const grant = yield* poll.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(new OAuthTimeout({ flow: "device", seconds: Duration.toSeconds(timeout) }))
          })
        )
        return yield* exchangeCode(
          grant.authorization_code,
          Redacted.make(grant.code_verifier, { label: "pkce_verifier" }),
          `${settings.issuer}/deviceauth/callback`
        )
      })

      const refresh = Effect.fn("OAuthClient.refresh")(function* (tokens: TokenSet, reason: RefreshReason) {
        yield* Effect.logDebug("refreshing", { reason })
        const response = yield* post(settings.refreshUrl, {
          client_id: settings.clientId,
          grant_type: "refresh_token",
          refresh_token: Redacted.value(tokens.refreshToken),
          refresh_reason: reason
        }).pipe(Effect.mapError(transportError("the token refresh")))
        if (response.status >= 200 && response.status < 300) {
          // The refresh token may have rotated: from here on nothing may fail and lose it, so an
          // answer that leaves something out or says it oddly falls back to what we had.
          const decoded = yield* response.json.pipe(
            Effect.flatMap(Schema.decodeUnknownEffect(TokenResponse)),
            Effect.mapError((error) => new InvalidTokenResponse({ field: "body", problem: error.message }))
          )
          return yield* fromTokenResponse(decoded, tokens)
        }
        const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        const { code } = readError(body)
        const permanent =
          code === "refresh_token_expired"
            ? "expired"
            : code === "refresh_token_reused"
              ? "reused"
              : code === "refresh_token_invalidated" || code === "invalid_grant"
                ? "invalidated"
                : response.status === 401
                  ? "unauthorized"
                  : undefined
        if (permanent) {
          yield* Effect.logDebug("refresh rejected", { reason: permanent, status: response.status })
          return yield* new RefreshRejected({ reason: permanent, status: response.status })
        }
        return yield* answerError("the token refresh", response.status, body, response.headers["retry-after"])
      })

      const revoke = Effect.fn("OAuthClient.revoke")(function* (
        tokens: Pick<TokenSet, "refreshToken"> | Pick<TokenSet, "accessToken">
      ) {
        const body =
          "refreshToken" in tokens
            ? {
                token: Redacted.value(tokens.refreshToken),
                token_type_hint: "refresh_token",
                client_id: settings.clientId
              }
            : { token: Redacted.value(tokens.accessToken), token_type_hint: "access_token" }
        const outcome = yield* HttpClientRequest.post(settings.revokeUrl).pipe(
          HttpClientRequest.bodyJsonUnsafe(body),
          client.execute,
          Effect.timeout(Duration.seconds(10)),
          Effect.map((response): RevokeOutcome =>
            response.status >= 200 && response.status < 300
              ? { revoked: true, detail: "revoked" }
              : { revoked: false, detail: `the issuer answered HTTP ${response.status}` }
          ),
          Effect.catch((cause) =>
            Effect.succeed<RevokeOutcome>({ revoked: false, detail: transportError("revoke")(cause).detail })
          )
        )
        yield* Effect.logDebug("revoke", outcome)
        return outcome
      })

      return OAuthClient.of({ authorize, loginWithBrowser, loginWithDeviceCode, exchangeCode, refresh, revoke })
    })
  )

  /**
   * The client on Node's HTTP stack, configured from the environment (`CODEX_ISSUER`, …).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = OAuthClient.layerNoDeps.pipe(
    Layer.provide(OAuthConfig.layerConfig),
    Layer.provide(NodeHttpClient.layerUndici)
  )

  /**
   * The client on Node's HTTP stack with settings given in code.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (input: Parameters<typeof OAuthConfig.layer>[0]) =>
    // fresh: layers are memoized by identity, so without it a second layerWith (another issuer) in
    // the same program would silently get the client built for the first one's settings.
    Layer.fresh(OAuthClient.layerNoDeps).pipe(
      Layer.provide(OAuthConfig.layer(input)),
      Layer.provide(NodeHttpClient.layerUndici)
    )
}
