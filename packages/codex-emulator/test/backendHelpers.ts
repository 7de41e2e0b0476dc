// Helpers for the emulator's backend tests: a signed-in session, real HTTP over loopback with Node's
// fetch (streaming reads, an idle cut-off, time to headers), raw node:http requests for what fetch
// cannot send (WebSocket upgrades, headers in an exact order), and an SSE parser that decodes each
// `data:` line into the Responses event shape the Codex CLI reads (protocol §7).
import { assert } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { request as httpRequest } from "node:http"
import { zstdCompressSync } from "node:zlib"
import { Emulator } from "../src/Emulator.ts"

// ---- sessions ---------------------------------------------------------------------------------------

/** A signed-in client of the emulator: the headers every backend request carries (protocol §6.2). */
export interface Session {
  readonly emulator: Emulator["Service"]
  readonly accountId: string
  readonly accessToken: string
  /** `authorization` and `chatgpt-account-id`. */
  readonly auth: Readonly<Record<string, string>>
}

/** Signs `account` (default: the login account) in without a browser, as a completed login would. */
export const signIn = Effect.fnUntraced(function* (account?: string) {
  const emulator = yield* Emulator
  const tokens = yield* emulator.issueTokens(account)
  const accountId = account ?? (yield* emulator.settings).loginAccount
  return {
    emulator,
    accountId,
    accessToken: tokens.access_token,
    auth: { authorization: `Bearer ${tokens.access_token}`, "chatgpt-account-id": accountId }
  } satisfies Session
})

/** The emulator of the enclosing layer reset to its initial state (the layer is shared), then signed in. */
export const freshSession = Effect.gen(function* () {
  const emulator = yield* Emulator
  yield* emulator.reset
  return yield* signIn()
})

/** Adds an account and signs it in. */
export const addAccountSession = Effect.fnUntraced(function* (input: Parameters<Emulator["Service"]["addAccount"]>[0]) {
  const emulator = yield* Emulator
  const account = yield* emulator.addAccount(input)
  return yield* signIn(account.id)
})

// ---- request bodies -----------------------------------------------------------------------------------

export const userMessage = (text: string) => ({
  type: "message",
  role: "user",
  content: [{ type: "input_text", text }]
})

/** A minimal valid /responses body in the shape of protocol §6.3, asking `text`; `overrides` replace keys. */
export const turn = (text: string, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: "gpt-5.5",
  instructions: "You are a helpful coding agent.",
  stream: true,
  store: false,
  input: [userMessage(text)],
  ...overrides
})

/** `body` without the keys named. */
export const omit = (body: Record<string, unknown>, ...keys: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(body).filter(([key]) => !keys.includes(key)))

export const weatherTool = {
  type: "function",
  name: "get_weather",
  description: "Current weather for a city",
  strict: false,
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false
  }
}

// ---- SSE ---------------------------------------------------------------------------------------------

const ContentPart = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })

const OutputItem = Schema.Struct({
  type: Schema.String,
  id: Schema.String,
  status: Schema.optional(Schema.String),
  role: Schema.optional(Schema.String),
  content: Schema.optional(Schema.Array(ContentPart)),
  call_id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  arguments: Schema.optional(Schema.String),
  input: Schema.optional(Schema.String),
  summary: Schema.optional(Schema.Array(ContentPart)),
  encrypted_content: Schema.optional(Schema.String)
})
export type OutputItem = typeof OutputItem.Type

export const Usage = Schema.Struct({
  input_tokens: Schema.Int,
  input_tokens_details: Schema.Struct({ cached_tokens: Schema.Int }),
  output_tokens: Schema.Int,
  output_tokens_details: Schema.Struct({ reasoning_tokens: Schema.Int }),
  total_tokens: Schema.Int
})

const ResponseObject = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  model: Schema.optional(Schema.String),
  output: Schema.optional(Schema.Array(OutputItem)),
  usage: Schema.optional(Usage),
  error: Schema.optional(Schema.Struct({ type: Schema.String, code: Schema.String, message: Schema.String }))
})

/** The fields of a Responses stream event that the tests read (the Codex CLI reads the same ones). */
const ResponseEvent = Schema.Struct({
  type: Schema.String,
  sequence_number: Schema.optional(Schema.Int),
  output_index: Schema.optional(Schema.Int),
  summary_index: Schema.optional(Schema.Int),
  delta: Schema.optional(Schema.String),
  text: Schema.optional(Schema.String),
  arguments: Schema.optional(Schema.String),
  input: Schema.optional(Schema.String),
  item: Schema.optional(OutputItem),
  response: Schema.optional(ResponseObject)
})
export type ResponseEvent = typeof ResponseEvent.Type

const decodeEvent = Schema.decodeUnknownSync(ResponseEvent)

/** One SSE event: its `event:` line, its `data:` text, and the data decoded (undefined when not JSON). */
export interface SseEvent {
  readonly event: string | undefined
  readonly raw: string
  readonly data: ResponseEvent | undefined
}

/**
 * Splits an SSE body into events (blank-line separated), reading `event:` and `data:` lines. A `data:`
 * that is not JSON is kept with `data: undefined`; JSON of the wrong shape fails the test.
 */
export const parseSse = (body: string): Array<SseEvent> =>
  body
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      let event: string | undefined
      const data: Array<string> = []
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim()
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""))
      }
      const raw = data.join("\n")
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch {
        return { event, raw, data: undefined }
      }
      return { event, raw, data: decodeEvent(json) }
    })

/** The decoded events, failing the test on an event whose data is not JSON. */
export const dataOf = (events: ReadonlyArray<SseEvent>): Array<ResponseEvent> =>
  events.map((event) => {
    assert.isDefined(event.data, `event ${event.event} has a data line that is not JSON: ${event.raw}`)
    return event.data!
  })

export const typesOf = (events: ReadonlyArray<SseEvent>) => events.map((event) => event.data?.type ?? event.event)

/** The first event of a type, failing the test when there is none. */
export const eventOf = (events: ReadonlyArray<SseEvent>, type: string): ResponseEvent => {
  const found = events.find((event) => event.data?.type === type)?.data
  assert.isDefined(found, `no ${type} event in ${JSON.stringify(typesOf(events))}`)
  return found!
}

/** Concatenates the `delta` of every event of a type. */
export const deltasOf = (events: ReadonlyArray<SseEvent>, type: string) =>
  events
    .filter((event) => event.data?.type === type)
    .map((event) => event.data?.delta ?? "")
    .join("")

/** The text of the assistant message in `response.output_item.done`, where the CLI reads it (§12.8). */
export const finalText = (events: ReadonlyArray<SseEvent>): string => {
  const message = events.find(
    (event) => event.data?.type === "response.output_item.done" && event.data.item?.type === "message"
  )?.data?.item
  assert.isDefined(message, `no assistant message in ${JSON.stringify(typesOf(events))}`)
  return (message!.content ?? []).map((part) => part.text ?? "").join("")
}

// ---- HTTP --------------------------------------------------------------------------------------------

/** The connection failed or broke: before the response headers, or while the body was streaming. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  stage: Schema.Literals(["headers", "body"]),
  /** What arrived of the body before it broke. */
  partial: Schema.String,
  cause: Schema.Defect()
}) {}

/** An HTTP answer read in full (or until the idle cut-off). */
export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The parsed JSON when the answer is JSON. */
  readonly body: unknown
  /** The SSE events when the answer is an event stream. */
  readonly events: Array<SseEvent>
  /** Milliseconds from sending the request to receiving the response headers. */
  readonly headersMs: number
  /** True when the body was cut off by `idleMs` without ending. */
  readonly idled: boolean
}

export interface SendOptions {
  /** Give up reading (aborting the request) once the body has been silent this long. */
  readonly idleMs?: number | undefined
}

/** Sends a request with fetch and reads the body chunk by chunk. */
export const send = (
  url: string,
  init: RequestInit = {},
  options: SendOptions = {}
): Effect.Effect<Reply, TransportError> =>
  Effect.tryPromise({
    try: async () => {
      const controller = new AbortController()
      const started = performance.now()
      let response: Response
      try {
        response = await fetch(url, { ...init, redirect: "manual", signal: controller.signal })
      } catch (cause) {
        throw new TransportError({ stage: "headers", partial: "", cause })
      }
      const headersMs = performance.now() - started
      const decoder = new TextDecoder()
      let text = ""
      let idled = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const arm = () => {
        if (options.idleMs === undefined) return
        clearTimeout(timer)
        timer = setTimeout(() => {
          idled = true
          controller.abort()
        }, options.idleMs)
      }
      try {
        if (response.body) {
          const reader = response.body.getReader()
          arm()
          for (;;) {
            const chunk = await reader.read()
            if (chunk.done) break
            text += decoder.decode(chunk.value, { stream: true })
            arm()
          }
        }
      } catch (cause) {
        if (!idled) throw new TransportError({ stage: "body", partial: text, cause })
      } finally {
        clearTimeout(timer)
      }
      const type = response.headers.get("content-type") ?? ""
      return {
        status: response.status,
        headers: response.headers,
        text,
        body: type.includes("json") && text.length > 0 ? (JSON.parse(text) as unknown) : undefined,
        events: type.includes("text/event-stream") ? parseSse(text) : [],
        headersMs,
        idled
      } satisfies Reply
    },
    catch: (cause) =>
      cause instanceof TransportError ? cause : new TransportError({ stage: "headers", partial: "", cause })
  })

export const get = (url: string, headers: Record<string, string> = {}) => send(url, { headers })

export interface PostOptions extends SendOptions {
  readonly headers?: Record<string, string> | undefined
  /** Compress the JSON body with zstd as the Codex CLI does (`content-encoding: zstd`). */
  readonly zstd?: boolean | undefined
}

/** POST {codexBaseUrl}/responses as a session, with a JSON body (or a raw string, sent as is). */
export const postResponses = (session: Session, body: unknown, options: PostOptions = {}) => {
  const json = typeof body === "string" ? body : JSON.stringify(body)
  return send(
    `${session.emulator.urls.codexBaseUrl}/responses`,
    {
      method: "POST",
      headers: {
        accept: "text/event-stream",
        "content-type": "application/json",
        ...(options.zstd ? { "content-encoding": "zstd" } : {}),
        ...session.auth,
        ...options.headers
      },
      body: options.zstd ? zstdCompressSync(Buffer.from(json)) : json
    },
    options
  )
}

/** Asserts the status and the exact JSON body of a reply. */
export const assertJson = (reply: Reply, status: number, body: unknown) => {
  assert.strictEqual(reply.status, status, reply.text)
  assert.deepStrictEqual(reply.body, body)
}

/** Asserts a 200 event stream that ends with `response.completed`, and returns its events. */
export const assertCompleted = (reply: Reply): Array<SseEvent> => {
  assert.strictEqual(reply.status, 200, reply.text)
  assert.strictEqual(reply.headers.get("content-type"), "text/event-stream")
  assert.strictEqual(reply.events.at(-1)?.data?.type, "response.completed", reply.text)
  return reply.events
}

/** The exact `{"detail": …}` body of the backend's 400s (protocol §6.3, §12). */
export const assertDetail = (reply: Reply, status: number, detail: string) => assertJson(reply, status, { detail })

// ---- raw node:http -------------------------------------------------------------------------------------

/** An answer to a raw request: a final response, or a `101` that switched protocols. */
export interface RawReply {
  readonly status: number
  readonly upgraded: boolean
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly text: string
}

/**
 * Sends a request with node:http, headers exactly as given and in that order (fetch reorders some and
 * refuses `Upgrade`/`Connection`).
 */
export const rawRequest = (
  method: string,
  url: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body?: Uint8Array
): Effect.Effect<RawReply, TransportError> =>
  Effect.callback<RawReply, TransportError>((resume) => {
    const target = new URL(url)
    const request = httpRequest({
      method,
      host: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      headers: headers.flat(),
      // The Host header goes where the caller put it, or first when the caller left it out.
      setHost: !headers.some(([name]) => name.toLowerCase() === "host")
    })
    request.on("upgrade", (response, socket) => {
      socket.destroy()
      resume(Effect.succeed({ status: response.statusCode ?? 0, upgraded: true, headers: response.headers, text: "" }))
    })
    request.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resume(
          Effect.succeed({
            status: response.statusCode ?? 0,
            upgraded: false,
            headers: response.headers,
            text: Buffer.concat(chunks).toString("utf8")
          })
        )
      )
    })
    request.on("error", (cause) => resume(Effect.fail(new TransportError({ stage: "headers", partial: "", cause }))))
    request.end(body)
    return Effect.sync(() => request.destroy())
  })
