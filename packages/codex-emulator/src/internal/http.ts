// HTTP adapters over the core: the auth service's routes, the backend's routes and the admin API.
import { Duration, Effect, Predicate, Schema, Stream } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { randomUUID } from "node:crypto"
import { zstdDecompressSync } from "node:zlib"
import {
  AccountInput,
  AccountPatch,
  ClockAdvance,
  type FaultKind,
  faultKindGroups,
  FaultRule,
  Route,
  routeFaultKinds,
  ScriptedReply,
  SettingsPatch
} from "../Domain.ts"
import { type AccountState, type Core, codedError, json, type JsonReply } from "./core.ts"
import { approvalPage, devicePage, messagePage } from "./pages.ts"
import * as Responses from "./responses.ts"

const encoder = new TextEncoder()

/**
 * The workspace origin the real backend answers for an ordinary account (protocol §6.1). It must be a
 * bare https origin: the real CLI fails every turn on anything else. A client whose model URL has
 * another origin than its ChatGPT base URL validates it and keeps its configured backend.
 */
const DEFAULT_WORKSPACE_ORIGIN = "https://chatgpt.com"

interface ParsedRequest {
  readonly query: Record<string, string>
  readonly headers: Record<string, string>
  readonly body: unknown
  readonly bodyError: string | undefined
}

type Json = Readonly<Record<string, unknown>>

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

/** Parses a request of one of the emulator's routes and records it for `lastRequest`. */
const recorded = Effect.fnUntraced(function* (core: Core, route: Route, request: HttpServerRequest.HttpServerRequest) {
  const parsed = yield* parse(request)
  core.record(route, {
    method: request.method,
    // The path as sent: request.url is relative to a prefix such as /backend-api.
    path: new URL(request.originalUrl, "http://emulator").pathname,
    query: parsed.query,
    headers: parsed.headers,
    body: parsed.body
  })
  return parsed
})

const bodyOf = (parsed: ParsedRequest): Json => (Predicate.isObject(parsed.body) ? parsed.body : {})

const respond = (reply: JsonReply) =>
  HttpServerResponse.jsonUnsafe(reply.body, {
    status: reply.status,
    headers: { "cache-control": "no-store", ...reply.headers }
  })

const detail = (status: number, message: string) => respond(json(status, { detail: message }))

const html = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

/** The answer of a fault that replaces a route's reply. */
const faultReply = (core: Core, rule: FaultRule, state: AccountState | undefined) => {
  switch (rule.kind) {
    case "unauthorized":
      return respond(
        codedError(401, "token_expired", "Provided authentication token is expired. Please try signing in again.")
      )
    case "usage_limit":
      // routeFaultKinds offers usage_limit only on routes that authenticate an account.
      return respond(core.usageLimitReply(state!))
    case "rate_limit": {
      const seconds = rule.retryAfterSeconds ?? 1
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
          rule.retryAfterHeader === false ? {} : { "retry-after": String(seconds) }
        )
      )
    }
    case "bad_gateway":
      return HttpServerResponse.text("<html><body><h1>502 Bad Gateway</h1></body></html>", {
        status: 502,
        contentType: "text/html"
      })
    case "overloaded":
      return respond(
        json(503, {
          error: {
            type: "server_error",
            code: "server_is_overloaded",
            message: "Our servers are currently overloaded. Please try again later."
          }
        })
      )
    default:
      // server_error: the routes hand faultReply no other kind.
      return respond(
        json(rule.status ?? 500, {
          error: { type: "server_error", message: "An error occurred while processing your request.", code: null }
        })
      )
  }
}

/**
 * Answers with `answer` unless the route takes a fault of `kinds` (by default every kind the route
 * can apply): slow_first_byte holds `answer` back, any other kind answers in its place.
 */
const faulted = (
  core: Core,
  route: Route,
  state: AccountState | undefined,
  answer: Effect.Effect<HttpServerResponse.HttpServerResponse>,
  kinds: ReadonlyArray<FaultKind> = routeFaultKinds[route]
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.suspend(() => {
    const rule = core.takeFault(route, state?.account.id, kinds)
    if (rule === undefined) return answer
    return rule.kind === "slow_first_byte"
      ? Effect.delay(answer, Duration.millis(rule.delayMs ?? 1_000))
      : Effect.succeed(faultReply(core, rule, state))
  })

/** The auth service's routes (protocol §1–§3): authorize, token, revoke, device code. */
export const authRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      yield* router.add("GET", "/.well-known/jwks.json", () => Effect.sync(() => respond(json(200, core.jwks()))))
      yield* router.add("GET", "/.well-known/openid-configuration", () =>
        Effect.sync(() =>
          respond(
            json(200, {
              issuer: core.issuer,
              authorization_endpoint: `${core.issuer}/oauth/authorize`,
              token_endpoint: `${core.issuer}/oauth/token`,
              revocation_endpoint: `${core.issuer}/oauth/revoke`,
              jwks_uri: `${core.issuer}/.well-known/jwks.json`,
              id_token_signing_alg_values_supported: ["RS256"],
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
          const parsed = yield* recorded(core, "authorize", request)
          core.count("authorize", undefined)
          return yield* faulted(
            core,
            "authorize",
            undefined,
            Effect.sync(() => {
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
        })
      )

      yield* router.add("POST", "/oauth/authorize/decision", (request) =>
        Effect.gen(function* () {
          const form = bodyOf(yield* parse(request))
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
          const parsed = yield* recorded(core, "token", request)
          const body = bodyOf(parsed)
          const account = core.tokenAccount(body)
          core.count("token", account?.account.id)
          if (parsed.bodyError)
            return respond(json(400, { error: "invalid_request", error_description: parsed.bodyError }))
          // Any grant can meet a reply fault here; core.token takes the refresh grant's own faults.
          return yield* faulted(
            core,
            "token",
            account,
            Effect.sync(() => respond(core.token(body))),
            faultKindGroups.reply
          )
        })
      )

      yield* router.add("POST", "/oauth/revoke", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "revoke", request)
          core.count("revoke", undefined)
          return yield* faulted(
            core,
            "revoke",
            undefined,
            Effect.sync(() => respond(core.revoke(bodyOf(parsed))))
          )
        })
      )

      yield* router.add("POST", "/api/accounts/deviceauth/usercode", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "usercode", request)
          core.count("usercode", undefined)
          return yield* faulted(
            core,
            "usercode",
            undefined,
            Effect.sync(() => respond(core.requestUserCode(bodyOf(parsed))))
          )
        })
      )

      yield* router.add("POST", "/api/accounts/deviceauth/token", (request) =>
        Effect.gen(function* () {
          const parsed = yield* recorded(core, "device_token", request)
          core.count("device_token", undefined)
          return yield* faulted(
            core,
            "device_token",
            undefined,
            Effect.sync(() => respond(core.pollDevice(bodyOf(parsed))))
          )
        })
      )

      yield* router.add("GET", "/codex/device", (request) =>
        Effect.sync(() =>
          html(devicePage(core.accountList(), core.settings.loginAccount, queryOf(request.url).user_code ?? ""))
        )
      )

      yield* router.add("POST", "/codex/device", (request) =>
        Effect.gen(function* () {
          const form = bodyOf(yield* parse(request))
          const code = String(form.user_code ?? "")
          const approve = form.decision === "approve"
          // Without an account field the login account approves, as with the admin shortcut.
          const account = form.account ? String(form.account) : core.settings.loginAccount
          const result = core.decideDevice(code, approve, account)
          if (result !== "ok") {
            const notice = result === "no_account" ? `No account ${account}.` : "That code is not valid or has expired."
            return html(devicePage(core.accountList(), core.settings.loginAccount, code, notice), 400)
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

/** The faults /responses takes before charging a turn; the stream faults come after the charge. */
const beforeCharge: ReadonlyArray<FaultKind> = [...faultKindGroups.account, ...faultKindGroups.reply]

/** The Codex backend's routes (protocol §6–§9). */
export const backendRoutes = (core: Core) =>
  HttpRouter.use(
    Effect.fnUntraced(function* (router) {
      const routed = router.prefixed("/backend-api")

      /**
       * A handler for an authenticated route: checks the bearer token, then chatgpt-account-id against
       * the token's account, and puts the account's x-codex-* usage headers on whatever it answers.
       */
      const authenticated =
        (
          route: Route,
          handle: (state: AccountState, parsed: ParsedRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse>
        ) =>
        (request: HttpServerRequest.HttpServerRequest) =>
          Effect.gen(function* () {
            const parsed = yield* recorded(core, route, request)
            const auth = core.authenticate(parsed.headers.authorization)
            if (!auth.ok) {
              core.count(route, undefined)
              return respond(auth.reply)
            }
            const { state } = auth
            core.count(route, state.account.id)
            const header = parsed.headers["chatgpt-account-id"]
            const response =
              header === undefined
                ? detail(403, "Missing chatgpt-account-id header: send the account id of the signed-in workspace.")
                : header !== state.account.id
                  ? detail(403, "chatgpt-account-id does not match the account of the access token.")
                  : yield* handle(state, parsed)
            // Read once the request has been charged, so /responses reports its own use.
            return HttpServerResponse.setHeaders(response, core.usageHeaders(state))
          })

      yield* routed.add(
        "GET",
        "/wham/accounts/check",
        authenticated("accounts_check", (state) =>
          faulted(
            core,
            "accounts_check",
            state,
            Effect.sync(() => {
              const { id, routing } = state.account
              const entry = {
                id,
                workspace_backend_origin: routing?.origin ?? DEFAULT_WORKSPACE_ORIGIN,
                account_routing_override: routing?.override ?? "NO_CONSTRAINT"
              }
              return respond(json(200, { accounts: routing?.omit ? [] : [entry] }))
            })
          )
        )
      )

      yield* routed.add(
        "GET",
        "/wham/usage",
        authenticated("usage", (state) =>
          faulted(
            core,
            "usage",
            state,
            Effect.sync(() => respond(json(200, core.usageStatus(state))))
          )
        )
      )

      yield* routed.add(
        "GET",
        "/codex/models",
        authenticated("models", (state, parsed) =>
          faulted(
            core,
            "models",
            state,
            Effect.sync(() => {
              const headers = { etag: core.modelsEtag, "cache-control": "no-cache" }
              return parsed.headers["if-none-match"] === core.modelsEtag
                ? HttpServerResponse.empty({ status: 304, headers })
                : HttpServerResponse.text(core.modelsBody, { contentType: "application/json", headers })
            })
          )
        )
      )

      yield* routed.add("GET", "/codex/responses", (request) =>
        Effect.gen(function* () {
          // Counted apart from the POSTs: a client that tries WebSockets first (the real CLI does, up
          // to 5 times) must not inflate the /responses figures.
          const parsed = yield* recorded(core, "responses_websocket", request)
          const auth = core.authenticate(parsed.headers.authorization)
          core.count("responses_websocket", auth.ok ? auth.state.account.id : undefined)
          const upgrade = request.headers.upgrade
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

      yield* routed.add(
        "POST",
        "/codex/responses",
        authenticated("responses", (state, parsed) => {
          if (parsed.bodyError) return Effect.succeed(detail(400, parsed.bodyError))
          const invalid = Responses.validate(parsed.body, {
            requireInstructions: core.settings.requireInstructions,
            models: core.modelSlugs
          })
          if (invalid) return Effect.succeed(detail(invalid.status, invalid.detail))
          const body = parsed.body as Json
          return faulted(
            core,
            "responses",
            state,
            Effect.sync(() => {
              if (!core.charge(state)) return respond(core.usageLimitReply(state))
              // Taken once the request is charged: an exhausted account's 429 must not use up a stream fault.
              const fault = core.takeFault("responses", state.account.id, faultKindGroups.stream)
              const responseId = `resp_${randomUUID().replaceAll("-", "")}`
              const createdAt = Math.floor(core.now() / 1000)
              const events =
                fault?.kind === "response_failed"
                  ? Responses.failed(body, responseId, createdAt, fault.code, fault.message)
                  : Responses.reply(body, core.replies, responseId, createdAt)
              return HttpServerResponse.stream(sseStream(events, fault), {
                contentType: "text/event-stream",
                headers: {
                  "cache-control": "no-cache",
                  "x-request-id": responseId,
                  // The CLI re-fetches /models when this changes, and echoes the turn state on follow-ups.
                  "x-models-etag": core.modelsEtag,
                  "x-codex-turn-state": parsed.headers["x-codex-turn-state"] ?? `ts_${responseId.slice(5)}`
                }
              })
            }),
            beforeCharge
          )
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
      const decodeAdvance = decodeAdmin(ClockAdvance)
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
          Effect.map(Effect.flatMap(body(request), decodeAccount), (input) => {
            const added = core.addAccount(input)
            return added.ok
              ? respond(json(201, added.account))
              : detail(
                  409,
                  `Account ${JSON.stringify(added.existing)} already exists; change it with PATCH /__admin/accounts/${added.existing}.`
                )
          })
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
          const state = core.findAccount(id!)
          return state ? respond(json(200, core.usage(state))) : notFound(id!)
        })
      )
      yield* admin.add("POST", "/settings", (request) =>
        handle(
          Effect.map(Effect.flatMap(body(request), decodeSettings), (patch) => {
            const updated = core.updateSettings(patch)
            return updated.ok
              ? respond(json(200, updated.settings))
              : detail(400, `Invalid admin request: ${updated.problem}.`)
          })
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
            const account = input.account ?? core.settings.loginAccount
            const result = core.decideDevice(input.user_code, input.deny !== true, account)
            switch (result) {
              case "ok":
                return respond(json(200, { ok: true }))
              case "no_account":
                return notFound(account)
              default:
                return detail(404, `Device code ${JSON.stringify(input.user_code)} is ${result}.`)
            }
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
