import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { makeParser, type SseMessage } from "../src/internal/sse.ts"

const encoder = new TextEncoder()

const parseChunks = (chunks: ReadonlyArray<Uint8Array>): Array<SseMessage> => {
  const parser = makeParser()
  const out: Array<SseMessage> = []
  for (const chunk of chunks) out.push(...parser.push(chunk))
  out.push(...parser.end())
  return out
}

const parse = (text: string): Array<SseMessage> => parseChunks([encoder.encode(text)])

/** Cuts `bytes` at the given offsets (any order, duplicates allowed). */
const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const sorted = [...new Set(cuts)].filter((cut) => cut > 0 && cut < bytes.length).sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const cut of sorted) {
    chunks.push(bytes.subarray(start, cut))
    start = cut
  }
  chunks.push(bytes.subarray(start))
  return chunks
}

/** Cuts `bytes` into chunks of 1..maxChunk bytes chosen by a seeded PRNG (mulberry32). */
const randomChunks = (bytes: Uint8Array, seed: number, maxChunk: number): Array<Uint8Array> => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const chunks: Array<Uint8Array> = []
  for (let start = 0; start < bytes.length;) {
    const end = Math.min(bytes.length, start + 1 + Math.floor(next() * maxChunk))
    chunks.push(bytes.subarray(start, end))
    start = end
  }
  return chunks
}

describe("SSE parser rules", () => {
  it("dispatches an event and its type on a blank line", () => {
    assert.deepStrictEqual(parse("event: ping\ndata: {}\n\n"), [{ event: "ping", data: "{}" }])
  })

  it("leaves event undefined when there is no event: field", () => {
    assert.deepStrictEqual(parse("data: x\n\n"), [{ event: undefined, data: "x" }])
  })

  it("accepts LF, CR and CRLF line endings, mixed", () => {
    const expected = [
      { event: "a", data: "1" },
      { event: "b", data: "2" },
      { event: "c", data: "3" }
    ]
    assert.deepStrictEqual(parse("event: a\ndata: 1\n\nevent: b\rdata: 2\r\revent: c\r\ndata: 3\r\n\r\n"), expected)
  })

  it("joins multi-line data with LF", () => {
    assert.deepStrictEqual(parse("data: one\ndata: two\ndata:\ndata: three\n\n"), [
      { event: undefined, data: "one\ntwo\n\nthree" }
    ])
  })

  it("ignores comment lines such as keep-alives", () => {
    assert.deepStrictEqual(parse(": keep-alive\n\n:\ndata: x\n: in the middle\ndata: y\n\n"), [
      { event: undefined, data: "x\ny" }
    ])
  })

  it("removes exactly one leading space after the colon", () => {
    assert.deepStrictEqual(parse("data:no-space\n\ndata:  two spaces\n\n"), [
      { event: undefined, data: "no-space" },
      { event: undefined, data: " two spaces" }
    ])
  })

  it("treats a line without a colon as a field with an empty value", () => {
    assert.deepStrictEqual(parse("data\n\ndata\ndata\n\n"), [
      { event: undefined, data: "" },
      { event: undefined, data: "\n" }
    ])
    assert.deepStrictEqual(parse("event\ndata: x\n\n"), [{ event: undefined, data: "x" }])
  })

  it("does not dispatch an event without data lines, and resets its type", () => {
    assert.deepStrictEqual(parse("event: lonely\n\ndata: x\n\n"), [{ event: undefined, data: "x" }])
    assert.deepStrictEqual(parse("\n\n\n: only comments\n\n"), [])
  })

  it("dispatches an empty data: line (the data buffer is not empty)", () => {
    assert.deepStrictEqual(parse("data:\n\n"), [{ event: undefined, data: "" }])
  })

  it("ignores unknown fields and retry:", () => {
    assert.deepStrictEqual(parse("retry: 1000\nfoo: bar\ndata: x\n\n"), [{ event: undefined, data: "x" }])
  })

  it("keeps the last event id for later events until it changes or is cleared", () => {
    assert.deepStrictEqual(parse("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: bad\0id\ndata: d\n\n"), [
      { event: undefined, data: "a", id: "1" },
      { event: undefined, data: "b", id: "1" },
      { event: undefined, data: "c" },
      { event: undefined, data: "d" }
    ])
  })

  it("dispatches a final event without its blank line only on end(), and only with data", () => {
    const parser = makeParser()
    assert.deepStrictEqual(parser.push(encoder.encode("data: first\n\nevent: last\ndata: tail")), [
      { event: undefined, data: "first" }
    ])
    assert.deepStrictEqual(parser.end(), [{ event: "last", data: "tail" }])
    assert.deepStrictEqual(parse("data: x\n\nevent: no-data\n"), [{ event: undefined, data: "x" }])
  })

  it("strips a leading byte-order mark", () => {
    assert.deepStrictEqual(parse("\uFEFFdata: x\n\n"), [{ event: undefined, data: "x" }])
  })

  it("joins a line split across chunks, inside \\r\\n and inside a UTF-8 character", () => {
    const bytes = encoder.encode("data: caf\u00e9 \u{1F600}\r\n\r\n")
    // Offsets 9 and 13 fall inside "é" (2 bytes) and "😀" (4 bytes); 17 sits between \r and \n.
    const chunks = splitAt(bytes, [3, 9, 12, 13, 14, 17, 18])
    assert.deepStrictEqual(parseChunks(chunks), [{ event: undefined, data: "caf\u00e9 \u{1F600}" }])
  })

  it("treats a CR at the end of a chunk followed by a blank-line CR as two line breaks", () => {
    const parser = makeParser()
    assert.deepStrictEqual(parser.push(encoder.encode("data: x\r")), [])
    assert.deepStrictEqual(parser.push(encoder.encode("\r")), [{ event: undefined, data: "x" }])
    assert.deepStrictEqual(parser.end(), [])
  })

  it("skips an LF after a chunk-final CR even when an empty chunk comes between", () => {
    const parser = makeParser()
    assert.deepStrictEqual(parser.push(encoder.encode("data: x\r")), [])
    assert.deepStrictEqual(parser.push(new Uint8Array(0)), [])
    // So the LF only ends the "data: x" line: the two data lines form one event.
    assert.deepStrictEqual(parser.push(encoder.encode("\ndata: y\r\n\r\n")), [{ event: undefined, data: "x\ny" }])
  })
})

// A turn with reasoning and text, as the backend frames it, plus the awkward parts: a comment, CRLF
// lines, multi-line data and multi-byte characters inside deltas.
const FIXTURE = [
  ": keep-alive\n\n",
  'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1"}}\n\n',
  'event: response.in_progress\ndata: {"type":"response.in_progress","response":{"id":"resp_1"}}\n\n',
  'event: response.output_item.added\r\ndata: {"type":"response.output_item.added","output_index":0,\r\ndata: "item":{"type":"reasoning","id":"rs_1","summary":[]}}\r\n\r\n',
  'event: response.reasoning_summary_text.delta\ndata: {"type":"response.reasoning_summary_text.delta","item_id":"rs_1","summary_index":0,"delta":"Pens\u00e9e"}\n\n',
  'event: response.output_item.done\ndata: {"type":"response.output_item.done","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Pens\u00e9e"}]}}\n\n',
  ": ping\r\n",
  'event: response.output_item.added\rdata: {"type":"response.output_item.added","output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}\r\r',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","delta":"Caf\u00e9 "}\n\n',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1",\ndata:"delta":"\u{1F600}!"}\n\n',
  'id: 7\nevent: response.output_item.done\ndata: {"type":"response.output_item.done","output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Caf\u00e9 \u{1F600}!"}]}}\n\n',
  'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":12,"output_tokens":5,"total_tokens":17}}}\n\n'
].join("")

const BYTES = encoder.encode(FIXTURE)
const WHOLE = parseChunks([BYTES])

describe("SSE parser over a whole turn", () => {
  it("parses the fixture into its ten events", () => {
    assert.deepStrictEqual(
      WHOLE.map((message) => message.event),
      [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.output_item.done",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed"
      ]
    )
    assert.strictEqual(WHOLE[2]!.data.includes('"output_index":0,\n"item"'), true)
    assert.strictEqual(JSON.parse(WHOLE[3]!.data).delta, "Pens\u00e9e")
    assert.strictEqual(JSON.parse(WHOLE[6]!.data).delta, "Caf\u00e9 ")
    assert.strictEqual(JSON.parse(WHOLE[7]!.data).delta, "\u{1F600}!")
    assert.strictEqual(WHOLE[7]!.id, undefined)
    assert.strictEqual(WHOLE[8]!.id, "7")
    assert.strictEqual(WHOLE[9]!.id, "7")
  })

  it("gives the same events for every split into two chunks", () => {
    for (let cut = 0; cut <= BYTES.length; cut++) {
      assert.deepStrictEqual(parseChunks([BYTES.subarray(0, cut), BYTES.subarray(cut)]), WHOLE, `cut at ${cut}`)
    }
  })

  it("gives the same events when fed one byte at a time", () => {
    const chunks: Array<Uint8Array> = []
    for (let i = 0; i < BYTES.length; i++) chunks.push(BYTES.subarray(i, i + 1))
    assert.deepStrictEqual(parseChunks(chunks), WHOLE)
  })

  // Each run draws a seed and a largest chunk size, then cuts the stream into chunks of 1..max bytes
  // with a small PRNG: hundreds of chunks per run, boundaries landing everywhere.
  it.prop(
    "gives the same events for random splits into many chunks",
    [
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 31 - 1 })),
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 }))
    ],
    ([seed, maxChunk]) => {
      const chunks = randomChunks(BYTES, seed, maxChunk)
      assert.isAbove(chunks.length, BYTES.length / 64 - 1)
      assert.deepStrictEqual(parseChunks(chunks), WHOLE)
    },
    { arbitrary: { runs: 500 } }
  )

  it.prop(
    "gives the same events for arbitrary cut points",
    [Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: BYTES.length })))],
    ([cuts]) => {
      assert.deepStrictEqual(parseChunks(splitAt(BYTES, cuts)), WHOLE)
    },
    { arbitrary: { runs: 200 } }
  )
})
