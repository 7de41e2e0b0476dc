// The model request (protocol §6–§8): POST /codex/responses answered as SSE, charged to the
// account's usage windows, with the stream faults applied; a WebSocket upgrade is refused.
import { Duration, Effect, Exit, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { randomUUID } from "node:crypto"
import { type FaultKind, faultKindGroups, type FaultRule } from "../../Domain.ts"
import type { Core } from "../core.ts"
import { modelsEtag, modelSlugs } from "../models.ts"
import * as Responses from "../responses.ts"
import { detail, type Json, recorded, respond } from "./adapter.ts"
import { authenticated, backendRoutes } from "./backend.ts"
import { faulted } from "./faults.ts"

const encoder = new TextEncoder()

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

/** Counts the reply as completed when its last byte is handed over, as aborted when the client closes it first. */
const counted = (core: Core, body: Stream.Stream<Uint8Array>): Stream.Stream<Uint8Array> =>
  Stream.onExit(body, (exit) =>
    Effect.sync(() => {
      if (Exit.isSuccess(exit)) core.streamEnded("completed")
      else if (Exit.hasInterrupts(exit)) core.streamEnded("aborted")
    })
  )

/** The faults /responses takes before charging a turn; the stream faults come after the charge. */
const beforeCharge: ReadonlyArray<FaultKind> = [...faultKindGroups.account, ...faultKindGroups.reply]

/** The Codex backend's /codex/responses (protocol §6–§8). */
export const responsesRoutes = (core: Core) =>
  backendRoutes(
    Effect.fnUntraced(function* (routed) {
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
        authenticated(core, "responses", (state, parsed) => {
          if (parsed.bodyError) return Effect.succeed(detail(400, parsed.bodyError))
          const invalid = Responses.validate(parsed.body, {
            requireInstructions: core.settings.requireInstructions,
            models: modelSlugs
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
              return HttpServerResponse.stream(counted(core, sseStream(events, fault)), {
                contentType: "text/event-stream",
                headers: {
                  "cache-control": "no-cache",
                  "x-request-id": responseId,
                  // The CLI re-fetches /models when this changes, and echoes the turn state on follow-ups.
                  "x-models-etag": modelsEtag,
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
