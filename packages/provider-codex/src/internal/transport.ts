// The one HTTP exchange on the hot path: POST /responses through an undici Dispatcher.
//
// Why not Effect's HttpClient here: measured side by side (tooling/bench/codex-client.ts), the
// HttpClient wrapper alone (span, trace headers, an AbortController registered per response, a
// DOMException per scoped request, the body re-wrapped as a Stream) halves the throughput of a
// streamed turn. The Dispatcher is the same one `NodeHttpClient.layerUndici` uses
// (`NodeHttpClient.Dispatcher`), so connections are pooled with every other request of the
// process and a proxy or custom Agent given there applies here too.
import { Effect } from "effect"
import type * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { Readable } from "node:stream"

/** A status, its headers and the body still to read. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: Readable & AsyncIterable<Uint8Array>
}

/** A transport failure before any answer: the message, never the request (it holds the bearer). */
export interface NoAnswer {
  readonly _tag: "NoAnswer"
  readonly detail: string
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

const ignore = () => {}

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
 * POSTs `body` to `url`. Aborting `abort` (the caller's idle limit) or interrupting the effect
 * aborts the request; once it has succeeded the caller owns the body and must read it to the end
 * or destroy it.
 */
export const post = (
  dispatcher: NodeHttpClient.Dispatcher["Service"],
  url: URL,
  headers: Record<string, string>,
  body: string | Uint8Array,
  abort: AbortController
): Effect.Effect<Answer, NoAnswer> =>
  Effect.callback<Answer, NoAnswer>((resume) => {
    dispatcher
      .request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: "POST",
        headers,
        body,
        signal: abort.signal,
        // The caller's idle limit runs on the Effect clock, for the headers as for the body.
        headersTimeout: 0,
        bodyTimeout: 0
      })
      .then(
        (response) => {
          // A body destroyed early (the caller stopped, or its idle limit) emits an error that the
          // reader, if any, already sees; without a listener it would be an uncaught exception.
          response.body.on("error", ignore)
          resume(
            Effect.succeed({
              status: response.statusCode,
              headers: flatten(response.headers),
              body: response.body as unknown as Answer["body"]
            })
          )
        },
        (cause: unknown) => resume(Effect.fail({ _tag: "NoAnswer", detail: describe(cause) }))
      )
    return Effect.sync(() => abort.abort())
  })

/** The text of a (refused) answer's body, at most `limit` bytes; what arrived if it breaks. */
export const readText = async (body: Answer["body"], limit: number): Promise<string> => {
  const chunks: Array<Uint8Array> = []
  let size = 0
  try {
    for await (const chunk of body) {
      chunks.push(chunk)
      size += chunk.byteLength
      if (size >= limit) break
    }
  } catch {
    // The status decides the error; a broken body only loses its detail.
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit))
}
