// HTTP plumbing shared by the OAuth operations: the Effect HttpClient every request goes through,
// the bridge that lets oauth4webapi use it, and how error bodies are read (protocol §1, §3).
import { type Context, Effect, Option, Redacted, Schema } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as oauth from "oauth4webapi"
import { OAuthHttpError } from "../Errors.ts"
import { OAuthConfig, type Settings } from "../OAuthConfig.ts"

/** The issuer as oauth4webapi describes it, built from settings (no discovery round trip). */
export const authorizationServer = (settings: Settings): oauth.AuthorizationServer => ({
  issuer: settings.issuer,
  authorization_endpoint: `${settings.issuer}/oauth/authorize`,
  token_endpoint: `${settings.issuer}/oauth/token`,
  revocation_endpoint: settings.revokeUrl
})

export const clientAuthentication = (settings: Settings): oauth.ClientAuth =>
  Option.match(settings.clientSecret, {
    onNone: () => oauth.None(),
    onSome: (secret) => oauth.ClientSecretPost(Redacted.value(secret))
  })

const isLoopback = (url: string) => {
  const { protocol, hostname } = new URL(url)
  return protocol === "http:" && (hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]")
}

/** The HttpClient with the headers the Codex CLI sends on every auth request. */
export const authClient = Effect.gen(function* () {
  const client = yield* HttpClient.HttpClient
  const settings = yield* OAuthConfig
  return client.pipe(
    HttpClient.mapRequest(
      HttpClientRequest.setHeaders({ originator: settings.originator, "user-agent": settings.userAgent })
    )
  )
})

/**
 * oauth4webapi's `customFetch`, answered by the Effect HttpClient so that tests observe every
 * request and the transport stays swappable. Plain http is allowed only for loopback issuers.
 */
export const oauthOptions = (client: HttpClient.HttpClient, settings: Settings, context: Context.Context<never>) => ({
  [oauth.allowInsecureRequests]: isLoopback(settings.issuer),
  [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<string, unknown>) =>
    Effect.runPromiseWith(context)(
      Effect.gen(function* () {
        const request = HttpClientRequest.make(init.method as "POST")(url).pipe(
          HttpClientRequest.setHeaders(init.headers),
          init.body === undefined || init.body === null
            ? (r) => r
            : HttpClientRequest.bodyText(String(init.body), init.headers["content-type"])
        )
        const response = yield* client.execute(request)
        const body = yield* response.arrayBuffer
        return new Response(response.status === 204 || response.status === 304 ? null : body, {
          status: response.status,
          headers: new Headers(response.headers as Record<string, string>)
        })
      }),
      init.signal ? { signal: init.signal } : undefined
    )
})

const ErrorBody = Schema.Struct({
  error: Schema.optional(
    Schema.Union([
      Schema.String,
      Schema.Struct({ code: Schema.optional(Schema.NullOr(Schema.String)), message: Schema.optional(Schema.String) })
    ])
  ),
  error_description: Schema.optional(Schema.String),
  code: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.String)
})
const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))

/** What an error answer says: its code (`error`, `error.code` or `code`) and its message. */
export const readError = (
  text: string
): { readonly code: string | undefined; readonly message: string | undefined } => {
  const body = Option.getOrUndefined(decodeErrorBody(text))
  if (!body) return { code: undefined, message: undefined }
  const error = body.error
  const code = typeof error === "string" ? error : (error?.code ?? body.code ?? undefined)
  const message =
    body.error_description ?? (typeof error === "object" ? error.message : undefined) ?? body.message ?? body.detail
  return { code, message: message ?? code }
}

/** Reads an error answer into an OAuthHttpError, never echoing more than the issuer's message. */
export const httpError = (operation: string, response: HttpClientResponse.HttpClientResponse) =>
  response.text.pipe(
    Effect.orElseSucceed(() => ""),
    Effect.map((text) => {
      const { message } = readError(text)
      return new OAuthHttpError({ operation, status: response.status, detail: message ?? "the issuer gave no reason" })
    })
  )

/** Maps a transport failure (no answer at all) to a transient OAuthHttpError. */
export const transportError = (operation: string) => (cause: unknown) =>
  new OAuthHttpError({
    operation,
    detail: cause instanceof Error ? cause.message.split("\n")[0]! : "the issuer could not be reached",
    cause
  })
