// An incremental `text/event-stream` parser (WHATWG HTML §9.2.6 "Interpreting an event stream").
//
// This is the hot path of every streamed turn, so it is written by hand: bytes go through one
// streaming TextDecoder, lines are found with `indexOf` from where the last chunk stopped (the
// buffer is never rescanned), and only an unfinished line is carried over to the next chunk.
//
// Deliberate choices, where the spec leaves room or where Codex needs something else:
// - `event` is `undefined` when the event had no `event:` field (the spec's default "message"
//   would be indistinguishable from an explicit `event: message`).
// - `id` follows the spec's "last event ID buffer": once set it is carried by every later message
//   until an `id:` line changes or clears it; an `id` containing U+0000 is ignored.
// - `retry:` and unknown fields are ignored: reconnection is the caller's business.
// - The spec discards an event that the stream ends in the middle of; `end()` instead dispatches
//   it when it has data. A truncated JSON payload then fails to decode (a retryable error) rather
//   than vanishing silently, and a server that omits the final blank line still works.

/** One dispatched event: its `event:` type, its joined `data:` lines and the last event id. */
export interface SseMessage {
  readonly event: string | undefined
  readonly data: string
  readonly id?: string
}

/** An incremental parser: feed it chunks as they arrive, then call `end` once. */
export interface SseParser {
  /** Parses one chunk (split anywhere, even inside a UTF-8 sequence) and returns the events it completed. */
  readonly push: (chunk: Uint8Array) => Array<SseMessage>
  /** Flushes the decoder and any unterminated last event; the parser is then reset. */
  readonly end: () => Array<SseMessage>
}

const LF = 10
const SPACE = 32

/** A fresh parser for one response body. */
export const makeParser = (): SseParser => {
  let decoder = new TextDecoder("utf-8")
  // The start of a line whose end has not arrived yet.
  let pending = ""
  // The previous chunk ended in CR: an LF starting the next one belongs to that line break.
  let skipLF = false
  let data = ""
  let hasData = false
  let eventType = ""
  let lastId = ""

  const dispatch = (out: Array<SseMessage>) => {
    if (hasData) {
      out.push(
        lastId === ""
          ? { event: eventType === "" ? undefined : eventType, data }
          : { event: eventType === "" ? undefined : eventType, data, id: lastId }
      )
    }
    data = ""
    hasData = false
    eventType = ""
  }

  const processLine = (line: string, out: Array<SseMessage>) => {
    const length = line.length
    if (length === 0) return dispatch(out)
    const colon = line.indexOf(":")
    if (colon === 0) return // a comment, e.g. a keep-alive
    let value = ""
    let fieldLength = length
    if (colon > 0) {
      fieldLength = colon
      const start = colon + 1 < length && line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1
      value = start < length ? line.slice(start) : ""
    }
    // Compare the field name in place instead of slicing it out.
    switch (fieldLength) {
      case 4:
        if (line.startsWith("data")) {
          if (hasData) data = data + "\n" + value
          else {
            data = value
            hasData = true
          }
        }
        return
      case 5:
        if (line.startsWith("event")) eventType = value
        return
      case 2:
        if (line.startsWith("id") && !value.includes("\0")) lastId = value
        return
    }
  }

  const processText = (text: string, out: Array<SseMessage>) => {
    const length = text.length
    if (length === 0) return
    let position = 0
    if (skipLF) {
      skipLF = false
      if (text.charCodeAt(0) === LF) position = 1
    }
    // Next LF / CR at or after `position`; -1 once there is none left in this text.
    let lf = text.indexOf("\n", position)
    let cr = text.indexOf("\r", position)
    while (position < length) {
      if (lf !== -1 && lf < position) lf = text.indexOf("\n", position)
      if (cr !== -1 && cr < position) cr = text.indexOf("\r", position)
      const end = lf === -1 ? cr : cr === -1 ? lf : lf < cr ? lf : cr
      if (end === -1) {
        pending = pending === "" ? text.slice(position) : pending + text.slice(position)
        return
      }
      let line = text.slice(position, end)
      if (pending !== "") {
        line = pending + line
        pending = ""
      }
      processLine(line, out)
      position = end + 1
      if (end === cr) {
        if (position === length) skipLF = true
        else if (text.charCodeAt(position) === LF) position++
      }
    }
  }

  const push = (chunk: Uint8Array): Array<SseMessage> => {
    const out: Array<SseMessage> = []
    processText(decoder.decode(chunk, { stream: true }), out)
    return out
  }

  const end = (): Array<SseMessage> => {
    const out: Array<SseMessage> = []
    processText(decoder.decode(), out)
    if (pending !== "") {
      const line = pending
      pending = ""
      processLine(line, out)
    }
    dispatch(out)
    decoder = new TextDecoder("utf-8")
    skipLF = false
    lastId = ""
    return out
  }

  return { push, end }
}
