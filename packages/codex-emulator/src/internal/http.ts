// HTTP adapters over the core: the auth service's routes, the backend's routes and the admin API.
import { Duration, Effect, Schema, Stream } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { randomUUID } from "node:crypto"
import { zstdDecompressSync } from "node:zlib"
import {
  AccountInput,
  AccountPatch,
  FaultRule,
  type RecordedRequest,
  Route,
  ScriptedReply,
  SettingsPatch
} from "../Domain.ts"
import { type Core, codedError, json, type JsonReply } from "./core.ts"
import { approvalPage, devicePage, messagePage } from "./pages.ts"
import * as Responses from "./responses.ts"

const encoder = new TextEncoder()

interface ParsedRequest {
  readonly query: Record<string, string>
  readonly headers: Record<string, string>
  readonly body: unknown
  readonly bodyError: string | undefined
}

const queryOf = (url: string): Record<string, string> => {
  const at = url.indexOf("?")
  return at < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(at + 1)))
}

const decompress = (bytes: Buffer, encoding: string | undefined): Buffer | string => {
  if (encoding === undefined || encoding === "identity") return bytes
  if (encoding !== "zstd") return `Unsupported content-encoding: ${encoding}`
  try {
    return zstdDecompressSync(bytes)
  } catch {
    return "The request body is not valid zstd"
  }
}

const decodeBody = (
  bytes: Buffer,
  type: string
): { readonly body: unknown; readonly bodyError: string | undefined } => {
  const text = bytes.toString("utf8")
  if (type.includes("application/x-www-form-urlencoded"))
    return { body: Object.fromEntries(new URLSearchParams(text)), bodyError: undefined }
  if (text.length === 0) return { body: undefined, bodyError: undefined }
  try {
    return { body: JSON.parse(text) as unknown, bodyError: undefined }
  } catch {
    return {
      body: text,
      bodyError: type.includes("json") ? "We could not parse the JSON body of your request." : undefined
    }
  }
}

/** Reads and decodes a request body: zstd or identity, then JSON or form fields by content type. */
const parse = Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest) {
  const headers = request.headers as Record<string, string>
  const query = queryOf(request.url)
  if (request.method === "GET" || request.method === "HEAD") {
    return { query, headers, body: undefined, bodyError: undefined } satisfies ParsedRequest
  }
  const raw = yield* request.arrayBuffer.pipe(Effect.orElseSucceed(() => undefined))
  if (raw === undefined) return { query, headers, body: undefined, bodyError: "The request body could not be read" }
  const bytes = decompress(Buffer.from(raw), headers["content-encoding"]?.toLowerCase())
  if (typeof bytes === "string") return { query, headers, body: undefined, bodyError: bytes }
  return { query, headers, ...decodeBody(bytes, headers["content-type"] ?? "") }
})

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const respond = (reply: JsonReply) =>
  HttpServerResponse.jsonUnsafe(reply.body, {
    status: reply.status,
    headers: { "cache-control": "no-store", ...reply.headers }
  })

const detail = (status: number, message: string, headers?: Record<string, string>) =>
  respond(json(status, { detail: message }, headers))

const html = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

/** The auth service's routes (protocol §1–§3): authorize, token, revoke, device code. */
export const authRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      const recorded = Effect.fnUntraced(function* (route: Route, request: HttpServerRequest.HttpServerRequest) {
        const parsed = yield* parse(request)
        core.record(route, {
          method: request.method,
          path: request.url.split("?")[0]!,
          query: parsed.query,
          headers: parsed.headers,
          body: parsed.body
        } satisfies RecordedRequest)
        return parsed
      })

      yield* router.add("GET", "/.well-known/openid-configuration", () =>
        Effect.sync(() =>
          respond(
            json(200, {
              issuer: core.issuer,
              authorization_endpoint: `${core.issuer}/oauth/authorize`,
              token_endpoint: `${core.issuer}/oauth/token`,
              revocation_endpoint: `${core.issuer}/oauth/revoke`,
              device_authorization_endpoint: `${core.issuer}/api/accounts/deviceauth/usercode`,
              response_types_supported: ["code"],
              grant_types_supported: [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange"
              ],
              code_challenge_methods_supported: ["S256"],
              token_endpoint_auth_methods_supported: ["none"],
              scopes_supported: ["openid", "profile", "email", "offline_access"]
            })
          )
        )
      )

      yield* router.add("GET", "/oauth/authorize", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded("authorize", request)
          core.count("authorize", undefined)
          const outcome = core.authorize(parsed.query)
          switch (outcome._tag) {
            case "Error":
              return respond(outcome.reply)
            case "Redirect":
              return HttpServerResponse.redirect(outcome.location, { status: 302 })
            case "Interactive":
              return html(
                approvalPage(
                  outcome.pending,
                  core.accountList(),
                  parsed.query.emulator_account ?? core.settings.loginAccount
                )
              )
          }
        })
      )

      yield* router.add("POST", "/oauth/authorize/decision", (request) =>
        Effect.gen(function* () {
          const { body } = yield* parse(request)
          const form = isRecord(body) ? body : {}
          const location = core.decidePending(
            String(form.request_id ?? ""),
            String(form.account ?? core.settings.loginAccount),
            form.decision === "approve"
          )
          return location === undefined
            ? html(
                messagePage("Request expired", "This sign-in request is no longer pending. Start the sign-in again."),
                400
              )
            : HttpServerResponse.redirect(location, { status: 302 })
        })
      )

      yield* router.add("POST", "/oauth/token", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded("token", request)
          if (parsed.bodyError)
            return respond(json(400, { error: "invalid_request", error_description: parsed.bodyError }))
          const body = isRecord(parsed.body) ? parsed.body : {}
          const reply = core.token(body)
          core.count("token", accountOfTokenReply(reply))
          return respond(reply)
        })
      )

      yield* router.add("POST", "/oauth/revoke", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded("revoke", request)
          core.count("revoke", undefined)
          return respond(core.revoke(isRecord(parsed.body) ? parsed.body : {}))
        })
      )

      yield* router.add("POST", "/api/accounts/deviceauth/usercode", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded("usercode", request)
          core.count("usercode", undefined)
          const fault = core.takeFault("usercode", undefined)
          if (fault) return faultReply(core, fault.kind, fault.status, fault.retryAfterSeconds, undefined)
          return respond(core.requestUserCode(isRecord(parsed.body) ? parsed.body : {}))
        })
      )

      yield* router.add("POST", "/api/accounts/deviceauth/token", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded("device_token", request)
          core.count("device_token", undefined)
          return respond(core.pollDevice(isRecord(parsed.body) ? parsed.body : {}))
        })
      )

      yield* router.add("GET", "/codex/device", (request) =>
        Effect.sync(() =>
          html(devicePage(core.accountList(), core.settings.loginAccount, queryOf(request.url).user_code ?? ""))
        )
      )

      yield* router.add("POST", "/codex/device", (request) =>
        Effect.gen(function* () {
          const { body } = yield* parse(request)
          const form = isRecord(body) ? body : {}
          const code = String(form.user_code ?? "")
          const approve = form.decision === "approve"
          const result =
            core.pendingDevice(code) === undefined
              ? "unknown"
              : // Without an account field the login account approves, as with the admin shortcut.
                core.decideDevice(code, approve, form.account ? String(form.account) : undefined)
          if (result !== "ok") {
            return html(
              devicePage(
                core.accountList(),
                core.settings.loginAccount,
                code,
                "That code is not valid or has expired."
              ),
              400
            )
          }
          return html(
            approve
              ? messagePage("Device signed in", "You can close this window and return to your terminal.")
              : messagePage("Sign-in denied", "The device was not signed in.")
          )
        })
      )

      yield* router.add("GET", "/deviceauth/callback", () =>
        Effect.sync(() => html(messagePage("Signed in", "You can close this window.")))
      )
    })
  )

const accountOfTokenReply = (reply: JsonReply): string | undefined => {
  if (reply.status !== 200 || !isRecord(reply.body) || typeof reply.body.access_token !== "string") return undefined
  const payload = reply.body.access_token.split(".")[1]
  if (!payload) return undefined
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<
      string,
      Record<string, unknown>
    >
    const id = claims["https://api.openai.com/auth"]?.chatgpt_account_id
    return typeof id === "string" ? id : undefined
  } catch {
    return undefined
  }
}

/** A fault that answers with a status instead of a stream. */
const faultReply = (
  core: Core,
  kind: FaultRule["kind"],
  status: number | undefined,
  retryAfterSeconds: number | undefined,
  accountId: string | undefined
) => {
  const state = accountId ? core.findAccount(accountId) : undefined
  const headers = state ? core.usageHeaders(state) : {}
  switch (kind) {
    case "unauthorized":
      return respond(
        codedError(401, "token_expired", "Provided authentication token is expired. Please try signing in again.")
      )
    case "usage_limit":
      return state ? respond(core.usageLimitReply(state)) : detail(429, "The usage limit has been reached")
    case "rate_limit": {
      const seconds = retryAfterSeconds ?? 1
      return respond(
        json(
          429,
          {
            error: {
              type: "rate_limit_exceeded",
              code: "rate_limit_exceeded",
              message: `Rate limit reached. Please try again in ${seconds}s.`
            }
          },
          { ...headers, "retry-after": String(seconds) }
        )
      )
    }
    case "bad_gateway":
      return HttpServerResponse.text("<html><body><h1>502 Bad Gateway</h1></body></html>", {
        status: 502,
        contentType: "text/html",
        headers
      })
    case "overloaded":
      return respond(
        json(
          503,
          {
            error: {
              type: "server_error",
              code: "server_is_overloaded",
              message: "Our servers are currently overloaded. Please try again later."
            }
          },
          headers
        )
      )
    default:
      return respond(
        json(
          status ?? 500,
          { error: { type: "server_error", message: "An error occurred while processing your request.", code: null } },
          headers
        )
      )
  }
}

const STATUS_FAULTS = new Set([
  "unauthorized",
  "usage_limit",
  "rate_limit",
  "server_error",
  "bad_gateway",
  "overloaded"
])

/** Renders events as an SSE body, with the stream faults applied. */
const sseStream = (
  events: ReadonlyArray<Responses.SseEvent>,
  fault: FaultRule | undefined
): Stream.Stream<Uint8Array> => {
  const chunks = events.map((event) => encoder.encode(Responses.frame(event)))
  if (!fault) return Stream.fromIterable(chunks)
  const at = Math.min(fault.afterEvents ?? 2, chunks.length)
  const before = Stream.fromIterable(chunks.slice(0, at))
  const after = Stream.fromIterable(chunks.slice(at))
  switch (fault.kind) {
    case "stream_cut":
      if (!fault.abort) return before
      // Node holds a response's first writes until the next tick: destroying the connection at once
      // would drop the headers and the events let through, so the client would see no response at all.
      return Stream.concat(
        before,
        Stream.concat(
          Stream.fromEffect(Effect.sleep(Duration.millis(20))).pipe(Stream.drain),
          Stream.die(new Error("emulator: stream aborted by fault"))
        )
      )
    case "malformed_event":
      return Stream.concat(
        before,
        Stream.concat(
          Stream.succeed(
            encoder.encode('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":\n\n')
          ),
          after
        )
      )
    case "idle":
      return Stream.concat(
        before,
        fault.delayMs === undefined
          ? Stream.never
          : Stream.concat(Stream.fromEffect(Effect.sleep(Duration.millis(fault.delayMs))).pipe(Stream.drain), after)
      )
    default:
      return Stream.fromIterable(chunks)
  }
}

/** The Codex backend's routes (protocol §6–§9). */
export const backendRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      const routed = router.prefixed("/backend-api")

      /** Authenticates a backend request and checks chatgpt-account-id against the token. */
      const authenticated = (route: Route, headers: Record<string, string>) => {
        const auth = core.authenticate(headers.authorization)
        if (!auth.ok) {
          core.count(route, undefined)
          return { ok: false as const, response: respond(auth.reply) }
        }
        const accountId = auth.token.accountId
        core.count(route, accountId)
        const header = headers["chatgpt-account-id"]
        if (header === undefined) {
          return {
            ok: false as const,
            response: detail(403, "Missing chatgpt-account-id header: send the account id of the signed-in workspace.")
          }
        }
        if (header !== accountId) {
          return {
            ok: false as const,
            response: detail(403, "chatgpt-account-id does not match the account of the access token.")
          }
        }
        return { ok: true as const, state: core.findAccount(accountId)! }
      }

      const recordRequest = (route: Route, request: HttpServerRequest.HttpServerRequest, parsed: ParsedRequest) =>
        core.record(route, {
          method: request.method,
          // request.url is relative to the /backend-api prefix; the recorded path is the one sent.
          path: new URL(request.originalUrl, "http://emulator").pathname,
          query: parsed.query,
          headers: parsed.headers,
          body: parsed.body
        })

      yield* routed.add("GET", "/wham/accounts/check", (request) =>
        Effect.gen(function* () {
          const parsed = yield* parse(request)
          recordRequest("accounts_check", request, parsed)
          const auth = authenticated("accounts_check", parsed.headers)
          if (!auth.ok) return auth.response
          const fault = core.takeFault("accounts_check", auth.state.account.id)
          if (fault && STATUS_FAULTS.has(fault.kind))
            return faultReply(core, fault.kind, fault.status, fault.retryAfterSeconds, auth.state.account.id)
          return respond(
            json(200, {
              accounts: [
                {
                  id: auth.state.account.id,
                  workspace_backend_origin: new URL(core.issuer).origin,
                  account_routing_override: "NO_CONSTRAINT"
                }
              ]
            })
          )
        })
      )

      yield* routed.add("GET", "/wham/usage", (request) =>
        Effect.gen(function* () {
          const parsed = yield* parse(request)
          recordRequest("usage", request, parsed)
          const auth = authenticated("usage", parsed.headers)
          if (!auth.ok) return auth.response
          return respond(json(200, core.usageSnapshot(auth.state.account.id), core.usageHeaders(auth.state)))
        })
      )

      yield* routed.add("GET", "/codex/models", (request) =>
        Effect.gen(function* () {
          const parsed = yield* parse(request)
          recordRequest("models", request, parsed)
          const auth = authenticated("models", parsed.headers)
          if (!auth.ok) return auth.response
          const fault = core.takeFault("models", auth.state.account.id)
          if (fault && STATUS_FAULTS.has(fault.kind))
            return faultReply(core, fault.kind, fault.status, fault.retryAfterSeconds, auth.state.account.id)
          const headers = { etag: core.modelsEtag, "cache-control": "no-cache" }
          if (parsed.headers["if-none-match"] === core.modelsEtag)
            return HttpServerResponse.empty({ status: 304, headers })
          return HttpServerResponse.text(core.modelsBody, { contentType: "application/json", headers })
        })
      )

      yield* routed.add("GET", "/codex/responses", (request) =>
        Effect.sync(() => {
          const upgrade = request.headers.upgrade
          core.count("responses", undefined)
          // The emulator speaks HTTP POST + SSE only; a WebSocket upgrade is refused without 101,
          // so a client that tries WebSockets first falls back, as against a plain proxy.
          return detail(
            upgrade ? 426 : 405,
            upgrade
              ? "WebSocket transport is not available here; use POST with Accept: text/event-stream."
              : "Method Not Allowed"
          )
        })
      )

      yield* routed.add("POST", "/codex/responses", (request) =>
        Effect.gen(function* () {
          const parsed = yield* parse(request)
          recordRequest("responses", request, parsed)
          const auth = authenticated("responses", parsed.headers)
          if (!auth.ok) return auth.response
          const { state } = auth
          if (parsed.bodyError) return detail(400, parsed.bodyError)
          const invalid = Responses.validate(parsed.body, { strict: core.settings.strict, models: core.modelSlugs })
          if (invalid) return detail(invalid.status, invalid.detail, core.usageHeaders(state))
          const body = parsed.body as Record<string, unknown>
          const fault = core.takeFault("responses", state.account.id)
          if (fault && STATUS_FAULTS.has(fault.kind)) {
            return faultReply(core, fault.kind, fault.status, fault.retryAfterSeconds, state.account.id)
          }
          if (!core.charge(state)) return respond(core.usageLimitReply(state))
          const responseId = `resp_${randomUUID().replaceAll("-", "")}`
          const createdAt = Math.floor(core.now() / 1000)
          const events =
            fault?.kind === "response_failed"
              ? Responses.failed(
                  body.model as string,
                  responseId,
                  createdAt,
                  fault.code ?? "server_error",
                  fault.message ??
                    (fault.code === "context_length_exceeded"
                      ? "Your input exceeds the context window of this model. Please adjust your input and try again."
                      : fault.code === "rate_limit_exceeded"
                        ? "Rate limit reached. Please try again in 1.5s."
                        : "An error occurred while processing your request.")
                )
              : Responses.reply(body, core.replies, responseId, createdAt)
          const response = HttpServerResponse.stream(sseStream(events, fault), {
            contentType: "text/event-stream",
            headers: {
              ...core.usageHeaders(state),
              "cache-control": "no-cache",
              "x-request-id": responseId,
              // The CLI re-fetches /models when this changes, and echoes the turn state on follow-ups.
              "x-models-etag": core.modelsEtag,
              "x-codex-turn-state": parsed.headers["x-codex-turn-state"] ?? `ts_${responseId.slice(5)}`
            }
          })
          return fault?.kind === "slow_first_byte"
            ? yield* Effect.as(Effect.sleep(Duration.millis(fault.delayMs ?? 1_000)), response)
            : response
        })
      )
    })
  )

const decodeAdmin = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (body: unknown) =>
    decode(body).pipe(Effect.mapError((error) => detail(400, `Invalid admin request: ${error.message}`)))
}

/** The admin API (HTTP JSON under /__admin): the same operations the Emulator service offers in process. */
export const adminRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      const admin = router.prefixed("/__admin")
      const decodeAccount = decodeAdmin(AccountInput)
      const decodePatch = decodeAdmin(AccountPatch)
      const decodeFault = decodeAdmin(FaultRule)
      const decodeSettings = decodeAdmin(SettingsPatch)
      const decodeReplies = decodeAdmin(Schema.Array(ScriptedReply))
      const decodeRoute = decodeAdmin(Route)
      const decodeAdvance = decodeAdmin(
        Schema.Struct({ seconds: Schema.optional(Schema.Finite), ms: Schema.optional(Schema.Finite) })
      )
      const decodeDevice = decodeAdmin(
        Schema.Struct({
          user_code: Schema.String,
          account: Schema.optional(Schema.String),
          deny: Schema.optional(Schema.Boolean)
        })
      )
      const body = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.flatMap(parse(request), (parsed) =>
          parsed.bodyError
            ? Effect.fail(detail(400, `Invalid admin request: ${parsed.bodyError}`))
            : Effect.succeed(parsed.body ?? {})
        )
      const notFound = (id: string) =>
        detail(404, `No account ${JSON.stringify(id)}; add it first with POST /__admin/accounts.`)
      const handle = <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
        Effect.catch(effect, (error) =>
          Effect.succeed(HttpServerResponse.isHttpServerResponse(error) ? error : detail(500, String(error)))
        )

      yield* admin.add("GET", "/state", () =>
        Effect.sync(() =>
          respond(
            json(200, {
              issuer: core.issuer,
              now: core.now(),
              settings: core.settings,
              accounts: core.accountList(),
              replies: core.replies
            })
          )
        )
      )
      yield* admin.add("GET", "/accounts", () => Effect.sync(() => respond(json(200, core.accountList()))))
      yield* admin.add("POST", "/accounts", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeAccount), (input) =>
            respond(json(201, core.addAccount(input)))
          )
        )
      )
      yield* admin.add("PATCH", "/accounts/:id", (request) =>
        handle(
          Effect.gen(function* () {
            const { id } = yield* HttpRouter.params
            const patch = yield* Effect.flatMap(body(request), decodePatch)
            const account = core.patchAccount(id!, patch)
            return account ? respond(json(200, account)) : notFound(id!)
          })
        )
      )
      yield* admin.add("POST", "/accounts/:id/expire-tokens", () =>
        Effect.map(HttpRouter.params, ({ id }) =>
          core.expireTokens(id!) ? respond(json(200, { ok: true })) : notFound(id!)
        )
      )
      yield* admin.add("POST", "/accounts/:id/revoke-tokens", () =>
        Effect.map(HttpRouter.params, ({ id }) =>
          core.revokeTokens(id!) ? respond(json(200, { ok: true })) : notFound(id!)
        )
      )
      yield* admin.add("POST", "/accounts/:id/tokens", () =>
        Effect.map(HttpRouter.params, ({ id }) =>
          core.findAccount(id!) ? respond(json(200, core.mintTokens(id!))) : notFound(id!)
        )
      )
      yield* admin.add("GET", "/accounts/:id/usage", () =>
        Effect.map(HttpRouter.params, ({ id }) => {
          const usage = core.usageSnapshot(id!)
          return usage ? respond(json(200, usage)) : notFound(id!)
        })
      )
      yield* admin.add("POST", "/settings", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeSettings), (patch) =>
            respond(json(200, core.updateSettings(patch)))
          )
        )
      )
      yield* admin.add("POST", "/clock/advance", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeAdvance), ({ seconds, ms }) =>
            respond(json(200, { now: core.advanceClock((seconds ?? 0) * 1000 + (ms ?? 0)) }))
          )
        )
      )
      yield* admin.add("POST", "/faults", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeFault), (rule) => {
            core.injectFault(rule)
            return respond(json(201, rule))
          })
        )
      )
      yield* admin.add("DELETE", "/faults", () =>
        Effect.sync(() => {
          core.clearFaults()
          return respond(json(200, { ok: true }))
        })
      )
      yield* admin.add("PUT", "/replies", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeReplies), (replies) => {
            core.setReplies(replies)
            return respond(json(200, replies))
          })
        )
      )
      yield* admin.add("POST", "/device/approve", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeDevice), (input) => {
            const result = core.decideDevice(input.user_code, input.deny !== true, input.account)
            return result === "ok"
              ? respond(json(200, { ok: true }))
              : detail(404, `Device code ${JSON.stringify(input.user_code)} is ${result}.`)
          })
        )
      )
      yield* admin.add("GET", "/counters", () => Effect.sync(() => respond(json(200, core.counters()))))
      yield* admin.add("GET", "/requests/:route", () =>
        handle(
          Effect.gen(function* () {
            const { route } = yield* HttpRouter.params
            const decoded = yield* decodeRoute(route)
            const last = core.lastRequest(decoded)
            return last ? respond(json(200, last)) : detail(404, `No ${decoded} request has been received yet.`)
          })
        )
      )
      yield* admin.add("POST", "/reset", () =>
        Effect.sync(() => {
          core.reset()
          return respond(json(200, { ok: true }))
        })
      )
    })
  )
