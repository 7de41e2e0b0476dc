/**
 * The OpenAI-compatible HTTP front: `POST /v1/chat/completions`, `POST /v1/responses` and
 * `GET /v1/models`, each request verified against the gateway's API keys, run through the `Router`
 * (so account pooling, fallbacks on usage limits and cooldowns apply) and recorded against its key.
 *
 * The model a client names is pinned (an alias resolves through the catalog); `auto` lets the
 * routing policy choose, for the task type and complexity of the `x-nexus-task-type` and
 * `x-nexus-complexity` headers (`chat` and `medium` when absent); `x-nexus-account` pins an
 * account. A streamed request answers with an error status until its first content is on the way
 * (a 429 with `Retry-After` when every account is at its limit); after that a failure is an error
 * event in the stream. A client that goes away cancels the upstream request.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { type ChatEvent, Errors, ModelCatalog } from "@nexus/provider-codex"
import { type Route, Router } from "@nexus/router"
import { ByteSize, Clock, Duration, Effect, Layer, Pull, Redacted, Schema, Scope, Stream } from "effect"
import {
  type Headers,
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  type HttpServerError,
  type HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { ApiKeys, type KeyInfo } from "./ApiKeys.ts"
import * as OpenAiChat from "./OpenAiChat.ts"
import * as OpenAiError from "./OpenAiError.ts"
import * as OpenAiResponses from "./OpenAiResponses.ts"
import * as EventStream from "./internal/eventStream.ts"

/**
 * Where the gateway listens, and what the policy is told when a client does not say.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** 0: any free port (the log says which). */
  readonly port: number
  readonly host: string
  /** The task type of a request without `x-nexus-task-type` (default `chat`). */
  readonly taskType?: string | undefined
  /** How long the requests in hand may finish once the server closes (default 30 seconds). */
  readonly grace?: Duration.Duration | undefined
}

/**
 * The model name that lets the routing policy choose.
 *
 * @since 0.1.0
 * @category constants
 */
export const AUTO = "auto"

type Event = ChatEvent.ChatEvent | Router.RouteChosen

/** An OpenAI error response. */
const errorResponse = (error: OpenAiError.OpenAiError) =>
  HttpServerResponse.jsonUnsafe(OpenAiError.body(error), {
    status: error.status,
    headers: error.retryAfter === undefined ? {} : { "retry-after": String(error.retryAfter) }
  })

/** The OpenAI error (status, body) of a typed failure, now. */
const openAiErrorOf = (failure: OpenAiError.Failure) =>
  Effect.map(Clock.currentTimeMillis, (now) => OpenAiError.fromFailure(failure, now))

const COMPLEXITIES = new Set(["simple", "medium", "complex"])

/** The route of a request: its model (or the policy's, for `auto`), the headers' hints. */
const routeOf = (
  headers: Headers.Headers,
  model: string,
  effort: string | undefined,
  cacheKey: string | undefined | null,
  taskType: string
): Route.RouteRequest | OpenAiChat.UnsupportedRequest => {
  const complexity = headers["x-nexus-complexity"] ?? "medium"
  if (!COMPLEXITIES.has(complexity)) {
    return new OpenAiChat.UnsupportedRequest({
      param: "x-nexus-complexity",
      detail: `the x-nexus-complexity header is ${JSON.stringify(complexity)}: use simple, medium or complex`
    })
  }
  const account = headers["x-nexus-account"]
  return {
    taskType: headers["x-nexus-task-type"] || taskType,
    complexity: complexity as Route.RouteRequest["complexity"],
    ...(model === AUTO || model === "" ? {} : { model }),
    ...(account ? { account } : {}),
    ...(effort ? { effort } : {}),
    ...(cacheKey ? { promptCacheKey: cacheKey } : {})
  }
}

/** The headers that say who served a request and what was dropped from it. */
const servedHeaders = (requestId: string, served: Route.Attempt | undefined, dropped: ReadonlyArray<string>) => ({
  "x-request-id": requestId,
  ...(served === undefined
    ? {}
    : // A label is free text: percent-encoded, so that a header never carries a character HTTP forbids.
      { "x-nexus-model": served.model, "x-nexus-account": encodeURIComponent(served.label ?? served.accountId) }),
  ...(dropped.length === 0 ? {} : { "x-nexus-dropped": dropped.join(", ") })
})

/** The API key of a request (`Authorization: Bearer …`), never outside a Redacted. */
const keyOf = (headers: Headers.Headers): Redacted.Redacted<string> | undefined => {
  const header = headers.authorization
  if (header === undefined) return undefined
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  return match === null ? undefined : Redacted.make(match[1]!.trim())
}

/** The largest request body taken: a conversation with a few images. */
const MAX_BODY_BYTES = 32 * 2 ** 20

/** Each schema's decoder, made once (making one costs more than a decode). */
const decoders = new WeakMap<Schema.Top, (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()
const decoderOf = (schema: Schema.Top) => {
  let decode = decoders.get(schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEffect(schema) as (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>
    decoders.set(schema, decode)
  }
  return decode
}

/** The JSON body decoded with `schema`, and the raw object (for the parameters no schema names). */
const bodyOf = <S extends Schema.Top>(
  request: HttpServerRequest.HttpServerRequest,
  headers: Headers.Headers,
  schema: S
) =>
  Effect.gen(function* () {
    if (Number(headers["content-length"] ?? 0) > MAX_BODY_BYTES) {
      return yield* new OpenAiError.InvalidBody({
        detail: `it is larger than ${MAX_BODY_BYTES / 2 ** 20} MiB: send smaller images, or fewer`,
        tooLarge: true
      })
    }
    const raw = yield* request.json.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(MAX_BODY_BYTES)),
      Effect.mapError(
        () =>
          new OpenAiError.InvalidBody({
            detail: `it could not be read as JSON (send Content-Type: application/json, at most ${MAX_BODY_BYTES / 2 ** 20} MiB)`
          })
      )
    )
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return yield* new OpenAiError.InvalidBody({ detail: "it is not a JSON object" })
    }
    const decoded = yield* decoderOf(schema)(raw as unknown).pipe(
      Effect.mapError((error) => new OpenAiError.InvalidBody({ detail: error.message.replace(/\s+/g, " ").trim() }))
    )
    return { decoded: decoded as S["Type"], raw: raw as Record<string, unknown> }
  })

/**
 * What a request's usage row says, filled in as the request goes and written once, when it ends
 * (see `guarded`): its status, the attempt that served its turn and what the turn used.
 */
interface Ledger {
  /** None yet: the request has not finished its answer (499 for a turn, if it never does). */
  status: number | undefined
  served: Route.Attempt | undefined
  usage: ChatEvent.Usage | undefined
}

/**
 * A streamed turn as Server-Sent Events, once the router has opened it (so that a turn no
 * candidate can serve answered with its status): each pull renders a batch of events as one
 * write — `frames` for the events (a `RouteChosen` first), `last` right after the turn's
 * `Completed` (or at the end), `failed` for a failure after the start. The ledger gets its status
 * once the whole answer is rendered.
 */
const sse = (
  request: HttpServerRequest.HttpServerRequest,
  ledger: Ledger,
  options: {
    readonly requestId: string
    readonly dropped: ReadonlyArray<string>
    readonly opened: Router.Opened
    readonly frames: (event: Event) => string
    readonly failed: (error: OpenAiError.OpenAiError) => string
    readonly last: string
  }
) => {
  const { route, pull: upstream } = options.opened
  ledger.served = route.served
  let pending: ReadonlyArray<Event> | undefined = Router.headOf(options.opened)
  // A turn without a first batch has nothing more to pull.
  const ended = options.opened.first === undefined
  let status = 200
  let lastSent = false
  let finished = false
  const render = (events: ReadonlyArray<Event>): string => {
    let text = ""
    for (const event of events) {
      text += options.frames(event)
      if (event._tag === "Completed") {
        ledger.usage = event.usage
        text += options.last
        lastSent = true
      }
    }
    return text
  }
  const next = Effect.gen(function* () {
    while (!finished) {
      let text: string
      if (pending !== undefined) {
        text = render(pending)
        pending = undefined
        if (ended) finished = true
      } else {
        const step = yield* upstream.pipe(
          Effect.map((events) => render(events)),
          Pull.catchDone(() => Effect.sync(() => void (finished = true))),
          Effect.catch((failure) =>
            Effect.map(openAiErrorOf(failure), (error) => {
              status = error.status
              finished = lastSent = true
              return options.failed(error)
            })
          )
        )
        text = step ?? ""
      }
      if (finished && !lastSent) {
        text += options.last
        lastSent = true
      }
      if (text.length > 0) return text
    }
    ledger.status = status
    return undefined
  })
  // Written by the request's fiber, in the request's scope: a client that goes away interrupts it,
  // and the scope's close cancels the upstream request.
  return EventStream.respond(
    request,
    {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      ...servedHeaders(options.requestId, route.served, options.dropped)
    },
    next
  )
}

/** A request's body decoded and mapped, and its route: what both endpoints start with. */
const prepared = <S extends Schema.Top, M extends { readonly effort: string | undefined }>(
  request: HttpServerRequest.HttpServerRequest,
  schema: S,
  map: (decoded: S["Type"], raw: Readonly<Record<string, unknown>>) => M | OpenAiChat.UnsupportedRequest,
  taskType: string
) =>
  Effect.gen(function* () {
    // Each read of `request.headers` copies them: read once.
    const headers = request.headers
    const { decoded, raw } = yield* bodyOf(request, headers, schema)
    const mapped = map(decoded, raw)
    if (mapped instanceof OpenAiChat.UnsupportedRequest) return yield* mapped
    const body = decoded as { readonly model: string; readonly prompt_cache_key?: string | null | undefined }
    const route = routeOf(headers, body.model, mapped.effort, body.prompt_cache_key, taskType)
    if (route instanceof OpenAiChat.UnsupportedRequest) return yield* route
    return { mapped, route }
  })

const chatCompletions = (taskType: string) =>
  Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest, ledger: Ledger) {
    const router = yield* Router.Router
    const { mapped, route } = yield* prepared(request, OpenAiChat.CompletionRequest, OpenAiChat.fromRequest, taskType)
    const id = `chatcmpl-${randomUUID().replaceAll("-", "")}`
    const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    if (!mapped.stream) {
      const { result, route: taken } = yield* router.execute(route, mapped.conversation)
      Object.assign(ledger, { status: 200, served: taken.served, usage: result.usage })
      return HttpServerResponse.jsonUnsafe(OpenAiChat.completion(id, created, taken.served.model, result), {
        headers: servedHeaders(id, taken.served, mapped.dropped)
      })
    }
    const chunks = OpenAiChat.chunker(id, created, mapped.includeUsage)
    return yield* sse(request, ledger, {
      requestId: id,
      dropped: mapped.dropped,
      opened: yield* router.open(route, mapped.conversation),
      frames: chunks,
      failed: (error) => `data: ${JSON.stringify(OpenAiError.body(error))}\n\n`,
      last: "data: [DONE]\n\n"
    })
  })

const responseFrame = (event: { readonly type: string }) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

const responses = (taskType: string) =>
  Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest, ledger: Ledger) {
    const router = yield* Router.Router
    const { mapped, route } = yield* prepared(
      request,
      OpenAiResponses.ResponsesRequest,
      OpenAiResponses.fromRequest,
      taskType
    )
    const id = `resp_${randomUUID().replaceAll("-", "")}`
    const createdAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const events = OpenAiResponses.streamer({ id, createdAt, request: mapped.conversation })
    if (mapped.stream) {
      return yield* sse(request, ledger, {
        requestId: id,
        dropped: mapped.dropped,
        opened: yield* router.open(route, mapped.conversation),
        frames: (event) => events.next(event).map(responseFrame).join(""),
        failed: (error) => responseFrame(events.failed(error)),
        last: ""
      })
    }
    // Not streamed: the same events, and the response `response.completed` carries.
    let response: object | undefined
    yield* Stream.runForEach(router.stream(route, mapped.conversation), (event) =>
      Effect.sync(() => {
        if (event._tag === "RouteChosen") ledger.served = event.route.served
        if (event._tag === "Completed") ledger.usage = event.usage
        for (const out of events.next(event)) {
          if ((out as { readonly type: string }).type === "response.completed") {
            response = (out as unknown as { readonly response: object }).response
          }
        }
      })
    )
    ledger.status = 200
    return HttpServerResponse.jsonUnsafe(response ?? {}, { headers: servedHeaders(id, ledger.served, mapped.dropped) })
  })

/** `GET /v1/models`: the catalog's models, the aliases and `auto`, in OpenAI's list shape. */
const models = Effect.gen(function* () {
  const catalog = yield* ModelCatalog.ModelCatalog
  const known = (yield* catalog.cached).filter((model) => model.visibility !== "hide")
  const entry = (id: string, ownedBy: string, extra: object = {}) => ({
    id,
    object: "model",
    created: 0,
    owned_by: ownedBy,
    ...extra
  })
  return {
    object: "list",
    data: [
      ...known.map((model) =>
        entry(model.slug, "openai", {
          ...(model.context_window === undefined ? {} : { context_window: model.context_window }),
          ...(model.supported_reasoning_levels === undefined
            ? {}
            : { reasoning_efforts: model.supported_reasoning_levels.map((level) => level.effort) })
        })
      ),
      ...Object.entries(catalog.aliases).map(([alias, slug]) => entry(alias, "nexus", { alias_of: slug })),
      entry(AUTO, "nexus", { description: "The routing policy chooses (x-nexus-task-type, x-nexus-complexity)" })
    ]
  }
})

const unexpected: OpenAiError.OpenAiError = {
  status: 500,
  type: "server_error",
  code: "internal_error",
  param: null,
  message: "The gateway failed unexpectedly; the failure is in its log. Try again, and report it if it persists."
}

/**
 * Runs `handler` for a verified key. Every failure becomes an OpenAI error response and, once the
 * key is known, its status in the request's usage row; a defect is logged and answered 500, never
 * with its stack. The row is written once, when the request's scope closes, however the request
 * ends: a turn (`turns`) always has one (499 when the client went away before the whole answer), a
 * models listing only when it failed.
 */
const guarded = <E extends OpenAiError.Failure, R>(
  endpoint: string,
  turns: boolean,
  handler: (
    request: HttpServerRequest.HttpServerRequest,
    ledger: Ledger
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) =>
  Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest) {
    const keys = yield* ApiKeys
    let key: KeyInfo | undefined
    const ledger: Ledger = { status: undefined, served: undefined, usage: undefined }
    // Straight onto the scope (Effect.addFinalizer would re-provide the whole context for it).
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.suspend(() => {
        const status = ledger.status ?? (turns ? 499 : undefined)
        if (key === undefined || status === undefined) return Effect.void
        return keys.record({
          keyId: key.id,
          endpoint,
          status,
          model: ledger.served?.model,
          accountId: ledger.served?.accountId,
          inputTokens: ledger.usage?.inputTokens,
          cachedTokens: ledger.usage?.cachedTokens,
          outputTokens: ledger.usage?.outputTokens,
          reasoningTokens: ledger.usage?.reasoningTokens
        })
      })
    )
    const failed = (error: OpenAiError.OpenAiError) =>
      Effect.sync(() => {
        ledger.status = error.status
        return errorResponse(error)
      })
    return yield* keys.verify(keyOf(request.headers)).pipe(
      Effect.flatMap((verified) => {
        key = verified
        return handler(request, ledger)
      }),
      Effect.catch((failure: E | OpenAiError.Failure) =>
        Effect.flatMap(openAiErrorOf(failure), (error) =>
          // What went wrong on the server's side is in its log (the response may say less).
          error.status >= 500
            ? Effect.andThen(
                Effect.logWarning("gateway request failed", {
                  endpoint,
                  status: error.status,
                  error: Errors.firstLine(failure)
                }),
                failed(error)
              )
            : failed(error)
        )
      ),
      Effect.catchDefect((defect) =>
        Effect.andThen(
          Effect.logError("gateway request failed unexpectedly", {
            endpoint,
            error: Errors.firstLine(defect)
          }),
          failed(unexpected)
        )
      )
    )
  })

/** A path parameter, decoded; undefined when its percent-encoding is broken. */
const decodedParam = (value: string): string | undefined => {
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}

/**
 * The gateway's routes, for an `HttpRouter`.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (options: Pick<Options, "taskType"> = {}) => {
  const taskType = options.taskType ?? "chat"
  return HttpRouter.addAll([
    HttpRouter.route("POST", "/v1/chat/completions", guarded("chat.completions", true, chatCompletions(taskType))),
    HttpRouter.route("POST", "/v1/responses", guarded("responses", true, responses(taskType))),
    HttpRouter.route(
      "GET",
      "/v1/models",
      guarded("models", false, () => Effect.map(models, (list) => HttpServerResponse.jsonUnsafe(list)))
    ),
    HttpRouter.route(
      "GET",
      "/v1/models/:model",
      guarded("models", false, (request) =>
        Effect.map(models, (list) => {
          const id = decodedParam(request.url.split("?")[0]!.split("/").pop() ?? "") ?? ""
          const found = list.data.find((model) => model.id === id)
          return found === undefined
            ? errorResponse({
                status: 404,
                type: "invalid_request_error",
                code: "model_not_found",
                param: "model",
                message: `The model \`${id}\` does not exist on this gateway: GET /v1/models lists them.`
              })
            : HttpServerResponse.jsonUnsafe(found)
        })
      )
    ),
    HttpRouter.route("*", "/*", (request) =>
      Effect.succeed(errorResponse(OpenAiError.notFound(request.method, request.url.split("?")[0] ?? request.url)))
    )
  ])
}

/**
 * The gateway's server, for as long as the layer lives; logs the address it listens on.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<never, HttpServerError.ServeError, Router.Router | ModelCatalog.ModelCatalog | ApiKeys> =>
  HttpRouter.serve(routes(options), { disableLogger: true }).pipe(
    Layer.merge(
      Layer.effectDiscard(
        HttpServer.addressFormattedWith((address) => Effect.logInfo("gateway listening", { url: `${address}/v1` }))
      )
    ),
    Layer.provide(
      NodeHttpServer.layer(createServer, {
        port: options.port,
        host: options.host,
        gracefulShutdownTimeout: options.grace ?? Duration.seconds(30)
      })
    )
  )
