// The one HTTP exchange on the hot path: POST /responses through an undici Dispatcher.
//
// Why not Effect's HttpClient here: measured side by side (tooling/bench/codex-client.ts), the
// HttpClient wrapper alone (span, trace headers, an AbortController registered per response, a
// DOMException per scoped request, the body re-wrapped as a Stream) halves the throughput of a
// streamed turn. Why `dispatch` and not `request`: `request` wraps the body in a Node Readable and
// the abort in an AbortSignal listener, which cost a streamed turn through the gateway about 7 % of
// its CPU (bench:gateway: 0.86 ms per request with `request`, 0.80 with `dispatch`); a turn needs
// neither, only the chunks in order and a way to stop. The Dispatcher is the same one `NodeHttpClient.layerUndici` uses
// (`NodeHttpClient.Dispatcher`), so connections are pooled with every other request of the process
// and a proxy or custom Agent given there applies here too.
import { Effect } from "effect"
import type * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"

type Dispatcher = NodeHttpClient.Dispatcher["Service"]
type Handler = Parameters<Dispatcher["dispatch"]>[1]
type Controller = Parameters<NonNullable<Handler["onRequestStart"]>>[0]

/** A status, its headers and the body still to read. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: Body
}

/** A transport failure before any answer: the message, never the request (it holds the bearer). */
export interface NoAnswer {
  readonly _tag: "NoAnswer"
  readonly detail: string
}

/** How a body ended: read to its end, or broken (`error`: why, as the connection or its destroyer said). */
export type Outcome = { readonly _tag: "Ended" } | { readonly _tag: "Broken"; readonly error: unknown }

const ENDED: Outcome = { _tag: "Ended" }

/** Buffered bytes past which the connection is paused until the reader catches up. */
const HIGH_WATER_MARK = 64 * 1024

/**
 * An answer's body: the chunks the connection delivered and nobody has read yet, then how it
 * ended. The reader takes what is buffered with `read`, is called back by `listen` when something
 * new arrives, and stops the exchange with `destroy`; past {@link HIGH_WATER_MARK} unread bytes
 * the connection is paused (backpressure) until `read` drains them.
 */
export class Body {
  private chunks: Array<Uint8Array> = []
  private buffered = 0
  private listener: (() => void) | undefined = undefined
  private controller: Controller | undefined
  private notifying = false
  /** `undefined` while the body streams. */
  outcome: Outcome | undefined = undefined

  constructor(controller?: Controller) {
    this.controller = controller
  }

  /** Everything buffered, in one piece; `null` when nothing is. */
  read(): Uint8Array | null {
    const chunks = this.chunks
    if (chunks.length === 0) return null
    const out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.buffered)
    this.chunks = []
    this.buffered = 0
    if (this.controller?.paused) this.controller.resume()
    return out
  }

  /** `listener` is called whenever a chunk, the end or a failure arrives (`undefined`: no longer). */
  listen(listener: (() => void) | undefined) {
    this.listener = listener
  }

  /** Stops the exchange (if it still runs) and drops what is buffered; `error` says why, for the reader. */
  destroy(error?: unknown) {
    this.chunks = []
    this.buffered = 0
    if (this.outcome !== undefined) return
    error ??= new globalThis.Error("the body was destroyed")
    this.outcome = { _tag: "Broken", error }
    const controller = this.controller
    if (controller !== undefined && !controller.aborted) {
      controller.abort(error instanceof globalThis.Error ? error : new globalThis.Error(String(error)))
    }
    this.notify()
  }

  /** The connection delivered `chunk`. */
  push(chunk: Uint8Array) {
    if (this.outcome !== undefined) return
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
    if (this.buffered >= HIGH_WATER_MARK) this.controller?.pause()
    this.notify()
  }

  /** The body ended: `error` when it broke. */
  finish(error?: unknown) {
    if (this.outcome !== undefined) return
    this.outcome = error === undefined ? ENDED : { _tag: "Broken", error }
    this.notify()
  }

  /**
   * Calls the listener once the connection's current read is through: the chunks (and the end)
   * one read delivers reach the reader together, as one wake-up, not one per chunk. (A reader
   * resumed here would otherwise run, and write downstream, in the middle of the read.)
   */
  private notify() {
    if (this.notifying) return
    this.notifying = true
    queueMicrotask(this.notified)
  }

  private readonly notified = () => {
    this.notifying = false
    this.listener?.()
  }
}

const describe = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null) {
    const code = (cause as { code?: unknown }).code
    const message = (cause as { message?: unknown }).message
    const text = typeof message === "string" ? message.split("\n")[0]! : "transport error"
    return typeof code === "string" ? `${text} (${code})` : text
  }
  return String(cause)
}

/** Flattens undici's headers (a repeated header keeps its last value). */
const flatten = (headers: Record<string, string | Array<string> | undefined>) => {
  const out: Record<string, string | undefined> = {}
  for (const name in headers) {
    const value = headers[name]
    out[name] = Array.isArray(value) ? value[value.length - 1] : value
  }
  return out
}

/**
 * POSTs `body` to `url`. `abortable` is handed the function that aborts the request (the caller's
 * idle limit, while it waits for the answer); interrupting the effect aborts it too. Once it has
 * succeeded the caller owns the body and must read it to the end or destroy it.
 */
export const post = (
  dispatcher: Dispatcher,
  url: URL,
  headers: Record<string, string>,
  body: string | Uint8Array,
  abortable: (abort: () => void) => void
): Effect.Effect<Answer, NoAnswer> =>
  Effect.callback<Answer, NoAnswer>((resume) => {
    let controller: Controller | undefined
    let answer: Body | undefined
    let aborted = false
    // Also after the answer came: interrupted before the caller took it, the body is nobody's.
    const abort = () => {
      if (aborted) return
      aborted = true
      if (answer !== undefined) answer.destroy(new globalThis.Error("the request was aborted"))
      else controller?.abort(new globalThis.Error("the request was aborted"))
    }
    abortable(abort)
    const handler: Handler = {
      onRequestStart: (started) => {
        controller = started
        if (aborted) started.abort(new globalThis.Error("the request was aborted"))
      },
      onResponseStart: (started, status, received) => {
        answer = new Body(started)
        resume(Effect.succeed({ status, headers: flatten(received), body: answer }))
      },
      onResponseData: (_, chunk) => answer?.push(chunk),
      onResponseEnd: () => answer?.finish(),
      onResponseError: (_, error) => {
        if (answer === undefined) resume(Effect.fail({ _tag: "NoAnswer", detail: describe(error) }))
        else answer.finish(error)
      }
    }
    try {
      dispatcher.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: "POST",
          headers,
          body,
          // The caller's idle limit runs on the Effect clock, for the headers as for the body.
          headersTimeout: 0,
          bodyTimeout: 0
        },
        handler
      )
    } catch (cause) {
      resume(Effect.fail({ _tag: "NoAnswer", detail: describe(cause) }))
    }
    return Effect.sync(abort)
  })

/** The text of a (refused) answer's body, at most `limit` bytes; what arrived if it breaks. */
export const readText = (body: Body, limit: number): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    const pump = () => {
      for (let chunk = body.read(); chunk !== null; chunk = body.read()) {
        chunks.push(chunk)
        size += chunk.byteLength
      }
      // The status decides the error; a broken body only loses its detail.
      if (size < limit && body.outcome === undefined) return
      body.listen(undefined)
      if (body.outcome === undefined) body.destroy()
      resolve(new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit)))
    }
    body.listen(pump)
    pump()
  })
