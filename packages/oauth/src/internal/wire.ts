// HTTP plumbing shared by the OAuth operations: the Effect HttpClient every request goes through,
// the bridge that lets oauth4webapi use it, and how error bodies are read (protocol §1, §3).
import { type Context, Effect, Option, Predicate, Redacted, Schema } from "effect"
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

// Each field is read on its own: an error body of an unexpected shape in one field must not hide
// the code in another (protocol §3 reads `error`, `error.code`, then a top-level `code`).
const ErrorBody = Schema.Struct({
  error: Schema.optional(Schema.Unknown),
  error_description: Schema.optional(Schema.Unknown),
  code: Schema.optional(Schema.Unknown),
  message: Schema.optional(Schema.Unknown),
  detail: Schema.optional(Schema.Unknown)
})
const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))
const text = (value: unknown) => (typeof value === "string" && value.length > 0 ? value : undefined)

/** What an error answer says: its code (`error`, `error.code` or `code`) and its message. */
export const readError = (
  body: string
): { readonly code: string | undefined; readonly message: string | undefined } => {
  const parsed = Option.getOrUndefined(decodeErrorBody(body))
  if (!parsed) return { code: undefined, message: undefined }
  const nested = Predicate.isObject(parsed.error) ? (parsed.error as Record<string, unknown>) : undefined
  const code = text(parsed.error) ?? text(nested?.code) ?? text(parsed.code)
  const message = text(parsed.error_description) ?? text(nested?.message) ?? text(parsed.message) ?? text(parsed.detail)
  return { code, message: message ?? code }
}

/** Whether a status is worth retrying: the issuer's trouble, not a verdict. */
export const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500

const retryAfterOf = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

/** An error answer as an OAuthHttpError; only the issuer's own message is kept, never the body. */
export const answerError = (
  operation: string,
  status: number,
  body: string,
  retryAfterHeader: string | undefined
): OAuthHttpError => {
  const { message } = readError(body)
  const retryAfter = retryAfterOf(retryAfterHeader)
  return new OAuthHttpError({
    operation,
    status,
    detail: message ?? "the issuer gave no reason",
    retryable: isRetryableStatus(status),
    ...(retryAfter === undefined ? {} : { retryAfter })
  })
}

/** Reads an HttpClient error answer into an OAuthHttpError. */
export const httpError = (operation: string, response: HttpClientResponse.HttpClientResponse) =>
  response.text.pipe(
    Effect.orElseSucceed(() => ""),
    Effect.map((body) => answerError(operation, response.status, body, response.headers["retry-after"]))
  )

/**
 * A transport failure (no answer at all) as a retryable OAuthHttpError. Only a one-line description
 * is kept: the failed request (with its body: codes, verifiers, refresh tokens) is not.
 */
export const transportError = (operation: string) => (cause: unknown) =>
  new OAuthHttpError({
    operation,
    detail: describeTransport(cause),
    retryable: true
  })

const describeTransport = (cause: unknown): string => {
  if (Predicate.isTagged(cause, "TimeoutError")) return "no answer in time"
  const reason = Predicate.hasProperty(cause, "reason") ? cause.reason : undefined
  const request = Predicate.hasProperty(reason, "request") ? reason.request : undefined
  const url = Predicate.hasProperty(request, "url") && typeof request.url === "string" ? ` ${request.url}` : ""
  const inner = Predicate.hasProperty(reason, "cause")
    ? reason.cause
    : Predicate.hasProperty(cause, "cause")
      ? cause.cause
      : cause
  const nested = Predicate.hasProperty(inner, "cause") ? inner.cause : undefined
  const code = [inner, nested]
    .map((e) => (Predicate.hasProperty(e, "code") && typeof e.code === "string" ? e.code : undefined))
    .find(Boolean)
  return `could not reach the issuer${url}${code ? ` (${code})` : ""}`
}
