// What every route group shares: reading a request (decompressed, decoded and recorded) and
// writing a JSON or HTML answer.
import { Effect, Predicate } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { zstdDecompressSync } from "node:zlib"
import type { Route } from "../../Domain.ts"
import type { Core } from "../core.ts"
import { json, type JsonReply } from "../reply.ts"

export interface ParsedRequest {
  readonly query: Record<string, string>
  readonly headers: Record<string, string>
  readonly body: unknown
  readonly bodyError: string | undefined
}

export type Json = Readonly<Record<string, unknown>>

export const queryOf = (url: string): Record<string, string> => {
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
export const parse = Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest) {
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
export const recorded = Effect.fnUntraced(function* (
  core: Core,
  route: Route,
  request: HttpServerRequest.HttpServerRequest
) {
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

export const bodyOf = (parsed: ParsedRequest): Json => (Predicate.isObject(parsed.body) ? parsed.body : {})

export const respond = (reply: JsonReply) =>
  HttpServerResponse.jsonUnsafe(reply.body, {
    status: reply.status,
    headers: { "cache-control": "no-store", ...reply.headers }
  })

export const detail = (status: number, message: string) => respond(json(status, { detail: message }))

export const html = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })
