// A `text/event-stream` answer, written as it is rendered.
//
// On the Node server the gateway runs on, the request's fiber writes it straight through Node's
// response: each rendered batch one `write`, backpressure from `drain`, then `end`. Effect's stream
// body would do the same through a stream per request, which cost a streamed request about a tenth
// of its CPU (bench:gateway, side by side); the server leaves a response that has ended alone, and
// a client that goes away interrupts the fiber as it would the stream. Where the request is not
// Node's (the routes mounted on another server), the answer is an Effect stream body.
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Cause, Effect, Stream } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { ServerResponse } from "node:http"

/** Waits until `response` takes writes again, or is gone. */
const drained = (response: ServerResponse) =>
  Effect.callback<void>((resume) => {
    const done = () => {
      response.off("drain", done)
      response.off("close", done)
      resume(Effect.void)
    }
    response.on("drain", done)
    response.on("close", done)
    return Effect.sync(() => {
      response.off("drain", done)
      response.off("close", done)
    })
  })

const encoder = new TextEncoder()

/**
 * Answers `request` with the texts `next` renders (`undefined` once there are no more), under a
 * 200 with `headers`. The effect ends when the whole answer is written (on Node) or handed to the
 * server as a stream body; the response it gives is then what the server is to send.
 */
export const respond = <E>(
  request: HttpServerRequest.HttpServerRequest,
  headers: Record<string, string>,
  next: Effect.Effect<string | undefined, E>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E> => {
  const response = NodeHttpServerRequest.toServerResponse(request) as ServerResponse | undefined
  if (!(response instanceof ServerResponse)) {
    const pull = Effect.flatMap(next, (text) =>
      text === undefined ? Cause.done() : Effect.succeed([encoder.encode(text)] as const)
    )
    return Effect.succeed(HttpServerResponse.stream(Stream.fromPull(Effect.succeed(pull)), { headers }))
  }
  return Effect.gen(function* () {
    response.writeHead(200, headers)
    for (;;) {
      const text = yield* next
      if (text === undefined) break
      // Gone: the server interrupts this fiber (its close listener); nothing more is written.
      if (response.destroyed) return HttpServerResponse.empty()
      if (!response.write(text)) yield* drained(response)
    }
    response.end()
    return HttpServerResponse.empty()
  }).pipe(
    // Half an answer must not look whole: a response that cannot be finished is cut.
    Effect.onError(() => Effect.sync(() => void (response.writableEnded || response.destroy())))
  )
}
