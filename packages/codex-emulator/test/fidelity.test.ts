// The emulator against a real request: what the official Codex CLI 0.169.0 sent to a loopback server
// (/work/shared/codex-request-capture.json), replayed byte for byte where it matters — the headers in
// wire order, the JSON body zstd-compressed — plus the variants that protocol §6.3 and §12 say the
// backend refuses, and the tool follow-up of the same turn.
import { assert, layer } from "@effect/vitest"
import { Effect, Option, Predicate, Schema } from "effect"
import { readFileSync } from "node:fs"
import { zstdCompressSync } from "node:zlib"
import { Emulator } from "../src/Emulator.ts"
import { finalText, freshSession, get, parseSse, rawRequest, type Session, typesOf } from "./backendHelpers.ts"

const Headers = Schema.Array(Schema.Tuple([Schema.String, Schema.String]))

const Capture = Schema.Struct({
  http_request_gpt_5_5: Schema.Struct({
    method: Schema.String,
    path: Schema.String,
    headers_in_wire_order: Headers,
    body: Schema.Record(Schema.String, Schema.Unknown)
  }),
  tool_followup_request_same_turn: Schema.Struct({
    headers_in_wire_order: Headers,
    last_three_input_items: Schema.Array(Schema.Unknown)
  })
})

// A verbatim copy of the design card's shared/codex-request-capture.json (the real Codex CLI 0.169.0
// on the wire), kept with the tests so that they run from any clone.
const capture = Schema.decodeSync(Schema.fromJsonString(Capture))(
  readFileSync(new URL("./fixtures/codex-request-capture.json", import.meta.url), "utf8")
)
const request = capture.http_request_gpt_5_5
const followUp = capture.tool_followup_request_same_turn

/** The captured account id: the emulator gets an account with exactly that id. */
const CAPTURED_ACCOUNT = "acc-synthetic-0001"

/** The full x-codex-turn-metadata JSON: the body's client_metadata carries it unshortened (§6.3). */
const turnMetadata = (body: Record<string, unknown>): string | undefined => {
  const metadata = body.client_metadata
  return Predicate.isObject(metadata) && Predicate.isString(metadata["x-codex-turn-metadata"])
    ? metadata["x-codex-turn-metadata"]
    : undefined
}

/**
 * Sends `body` as the CLI sent the capture: its headers in wire order with the masked bearer replaced by
 * a real token, and host/content-length recomputed for this server in their captured places. The
 * capture shortens long values with "…", which no HTTP header can carry (Node refuses non-Latin-1): the
 * turn metadata is restored from the body when it has it, other marks become "...".
 */
const replay = (
  session: Session,
  body: Record<string, unknown>,
  headers: ReadonlyArray<readonly [string, string]> = request.headers_in_wire_order
) => {
  const url = new URL(request.path, session.emulator.urls.issuer)
  const compressed = zstdCompressSync(Buffer.from(JSON.stringify(body)))
  const wire = headers.map(([name, value]): readonly [string, string] => {
    switch (name) {
      case "authorization":
        return [name, `Bearer ${session.accessToken}`]
      case "host":
        return [name, url.host]
      case "content-length":
        return [name, String(compressed.length)]
      case "x-codex-turn-metadata":
        return [name, turnMetadata(body) ?? value.replaceAll("…", "...")]
      default:
        return [name, value.replaceAll("…", "...")]
    }
  })
  return Effect.map(rawRequest(request.method, url.toString(), wire, compressed), (reply) => ({
    ...reply,
    events: parseSse(reply.text)
  }))
}

const assertRefused = (reply: { readonly status: number; readonly text: string }, detail: string) => {
  assert.strictEqual(reply.status, 400, reply.text)
  assert.deepStrictEqual(JSON.parse(reply.text), { detail })
}

layer(Emulator.layer({ accounts: [{ id: CAPTURED_ACCOUNT, email: "capture@example.com", plan: "plus" }] }), {
  excludeTestServices: true
})("the captured Codex CLI 0.169.0 request", (it) => {
  it.effect("replayed as sent (headers in wire order, zstd body) it streams a completed turn", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assert.strictEqual(session.accountId, CAPTURED_ACCOUNT)
      // Sent unmodified: the capture's shortened tools ("parameters": "…schema…" and a "…10 more
      // tools…" string) stay as they are. The real backend would refuse such tools, but the CLI sent
      // full schemas there; the emulator does not validate tool definitions, so it accepts them.
      const reply = yield* replay(session, request.body)
      assert.strictEqual(reply.status, 200, reply.text)
      assert.isFalse(reply.upgraded)
      assert.strictEqual(reply.headers["content-type"], "text/event-stream")
      const types = typesOf(reply.events)
      assert.include(types, "response.output_item.done")
      assert.strictEqual(types.at(-1), "response.completed")
      assert.strictEqual(finalText(reply.events), "say hi")
      // The CLI reads these response headers up front (protocol §7): a turn state it did not send is
      // generated for the turn, and the models etag is the one /models answers with.
      const responseId = reply.events[0]?.data?.response?.id ?? ""
      assert.match(responseId, /^resp_[0-9a-f]{32}$/)
      assert.strictEqual(reply.headers["x-codex-turn-state"], `ts_${responseId.slice(5)}`)
      const models = yield* get(`${session.emulator.urls.codexBaseUrl}/models?client_version=0.169.0`, session.auth)
      assert.match(models.headers.get("etag") ?? "", /^"[^"]+"$/)
      assert.strictEqual(reply.headers["x-models-etag"], models.headers.get("etag"))

      const recorded = Option.getOrThrow(yield* session.emulator.lastRequest("responses"))
      assert.strictEqual(recorded.path, request.path)
      assert.deepStrictEqual(recorded.body, request.body)
      // Node's HTTP client always adds its own Connection header at the end; the CLI's are all before it.
      assert.deepStrictEqual(
        Object.keys(recorded.headers).filter((name) => name !== "connection"),
        request.headers_in_wire_order.map(([name]) => name),
        "the emulator saw the headers in the CLI's wire order"
      )
      assert.strictEqual(recorded.headers["content-encoding"], "zstd")
      assert.strictEqual(recorded.headers["chatgpt-account-id"], CAPTURED_ACCOUNT)
    })
  )

  it.effect("with store: true it is refused with 400 Store must be set to false", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertRefused(yield* replay(session, { ...request.body, store: true }), "Store must be set to false")
    })
  )

  it.effect("with a string input it is refused with 400 Input must be a list", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertRefused(yield* replay(session, { ...request.body, input: "say hi" }), "Input must be a list")
    })
  )

  it.effect("with temperature it is refused with 400 Unsupported parameter", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertRefused(yield* replay(session, { ...request.body, temperature: 0.7 }), "Unsupported parameter: temperature")
    })
  )

  it.effect(
    "with requireInstructions the capture (which has no instructions) is refused until instructions are added",
    () =>
      Effect.gen(function* () {
        const session = yield* freshSession
        assert.notProperty(request.body, "instructions")
        yield* session.emulator.updateSettings({ requireInstructions: true })
        assertRefused(yield* replay(session, request.body), "Instructions are required")
        const withInstructions = yield* replay(session, { ...request.body, instructions: "You are Codex." })
        assert.strictEqual(withInstructions.status, 200, withInstructions.text)
        assert.strictEqual(typesOf(withInstructions.events).at(-1), "response.completed")
        // And back in the default mode the unmodified capture passes again.
        yield* session.emulator.updateSettings({ requireInstructions: false })
        assert.strictEqual((yield* replay(session, request.body)).status, 200)
      })
  )

  it.effect("the tool follow-up of the same turn (function_call + function_call_output) is answered with text", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const input = request.body.input
      assert.isArray(input)
      const body = { ...request.body, input: [...(input as Array<unknown>), ...followUp.last_three_input_items] }
      const reply = yield* replay(session, body, followUp.headers_in_wire_order)
      assert.strictEqual(reply.status, 200, reply.text)
      const types = typesOf(reply.events)
      assert.notInclude(types, "response.function_call_arguments.done")
      assert.strictEqual(types.at(-1), "response.completed")
      const text = finalText(reply.events)
      assert.include(text, "exec_command")
      assert.include(text, "hi-from-tool")
      // The follow-up echoes the turn state, and the emulator keeps it for the rest of the turn.
      assert.strictEqual(reply.headers["x-codex-turn-state"], "turnstate-synthetic-123")
      assert.isString(reply.headers["x-models-etag"])
    })
  )
})
