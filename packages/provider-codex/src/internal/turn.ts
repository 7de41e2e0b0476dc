// One turn's answers read into events, and the result they add up to. The hot path of every turn:
// one pull per network chunk, SSE parsed and events decoded by plain loops (see sse.ts, decode.ts).
import { Array as Arr, type Clock, Duration, Effect } from "effect"
import type * as ChatEvent from "../ChatEvent.ts"
import type { Gathered } from "../ChatEvent.ts"
import { type CodexError, UpstreamUnavailable } from "../Errors.ts"
import { type Credits, creditsFromHeaders, fromEvent, fromHeaders, type UsageWindow } from "../UsageWindows.ts"
import { failedError } from "./classify.ts"
import { firstLine } from "./backend.ts"
import { makeEventDecoder } from "./decode.ts"
import { makeParser, type SseMessage } from "./sse.ts"
import type * as Transport from "./transport.ts"

/** What an attempt holds (its body, its idle watch): released when it ends, however it ends. */
export type Owned = Array<{ readonly destroy: () => void }>

export const releaseAll = (owned: Owned) => {
  for (const item of owned) item.destroy()
  owned.length = 0
}

/** The error a body is destroyed with when the backend stays silent past the idle limit. */
class IdleTimeout extends globalThis.Error {}

/**
 * What a turn saw across its attempts besides the events: whose account answered, and the usage
 * windows and credits its own answers reported (never another turn's).
 */
export class TurnState {
  windows: ReadonlyArray<UsageWindow> = []
  credits: Credits | undefined = undefined
  /** An event with content (not just `Created` or `RateLimits`) has reached the caller. */
  delivered = false
  /** The ChatGPT account id (a label until the first request resolves it). */
  accountId: string
  constructor(account: string) {
    this.accountId = account
  }

  /** An answer's headers: its windows replace the turn's (every answer, 429s included, has them). */
  sawHeaders(headers: Transport.Answer["headers"]): ReadonlyArray<UsageWindow> {
    const windows = fromHeaders(headers)
    if (windows.length > 0) this.windows = windows
    this.credits = creditsFromHeaders(headers) ?? this.credits
    return windows
  }

  /** Windows an event reported: they replace the turn's windows of the same limit and kind. */
  sawEvent(windows: ReadonlyArray<UsageWindow>) {
    const key = (window: UsageWindow) => `${window.limitId}/${window.kind}`
    const replaced = new Set(windows.map(key))
    this.windows = [...this.windows.filter((window) => !replaced.has(key(window))), ...windows]
  }
}

/**
 * An attempt's idle limit: it counts only while the attempt waits for the network (for the
 * headers, then for each chunk), not while the caller is busy, and calls `onIdle` when the
 * backend stays silent too long.
 */
export interface Watch {
  /** Starts counting: the attempt now waits for the network. */
  waiting(): void
  /** Stops counting: something arrived. */
  arrived(): void
  /** What to do when the limit passes: abort the request, then destroy the body. */
  onIdle: () => void
  /** The limit has passed. */
  readonly fired: boolean
}

/**
 * The idle limits of a client's attempts, on the Effect clock (a `TestClock` drives them in
 * tests). One sweeper fiber per client wakes at the earliest deadline among the attempts that
 * wait: an attempt costs two set operations, not a fiber or a timer of its own.
 */
/** A watch in a client's set: counting while `pulling`, from `since`. */
class Entry implements Watch {
  pulling = false
  since = 0
  fired = false
  released = false
  onIdle: () => void = () => {}
  private readonly clock: Clock.Clock
  private readonly active: Set<Entry>
  constructor(clock: Clock.Clock, active: Set<Entry>) {
    this.clock = clock
    this.active = active
  }
  waiting() {
    if (this.released) return
    this.pulling = true
    // A watch that fired (the request was aborted, e.g. before a 401 recovery) counts again.
    this.fired = false
    this.since = this.clock.currentTimeMillisUnsafe()
    this.active.add(this)
  }
  arrived() {
    this.pulling = false
  }
  destroy() {
    this.released = true
    this.active.delete(this)
  }
}

export const makeWatches = (idle: Duration.Duration) =>
  Effect.clockWith((clock) => {
    const idleMillis = Duration.toMillis(idle)
    const active = new Set<Entry>()
    const start = (owned: Owned): Watch => {
      const entry = new Entry(clock, active)
      owned.push(entry)
      return entry
    }
    // A deadline set while the sweeper sleeps is at least `idle` away: it wakes in time for it.
    const sweep: Effect.Effect<never> = Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      let wake = idleMillis
      for (const entry of active) {
        if (!entry.pulling) continue
        const left = entry.since + idleMillis - now
        if (left > 0) {
          wake = Math.min(wake, left)
          continue
        }
        active.delete(entry)
        entry.fired = true
        try {
          entry.onIdle()
        } catch {
          // Aborting or destroying cannot be allowed to stop the sweeper: every other attempt
          // of the client depends on it.
        }
      }
      return Effect.flatMap(Effect.sleep(wake), () => sweep)
    })
    return Effect.succeed({ start, sweep })
  })

/**
 * One answer's body read into events: the one body reader, shared by `stream` (which pulls it,
 * {@link pullSteps}) and `chat` (which lets the socket push it, {@link foldInto}).
 *
 * The body is read in paused mode: `read()` hands over everything buffered at once (fewer, larger
 * chunks than an async iterator gives). `next()` is synchronous: the next events, a failure
 * mapped to its error, `null` once the body ends after `response.completed`, or `WAIT` when
 * nothing is buffered; `onWake` is then called once when something arrives.
 */
export interface Answer {
  readonly next: () => Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent> | CodexError | null | typeof WAIT
  /** Calls `wake` once when the body has something new (data, its end or a failure). */
  readonly onWake: (wake: () => void) => void
  /** Forgets the `wake` given (the reader stopped waiting). */
  readonly cancelWake: () => void
  /** The windows `codex.rate_limits` events reported since the last call, already on the turn. */
  readonly takeWindows: () => Array<UsageWindow> | undefined
}

const isEvents = (
  out: Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent> | CodexError
): out is Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent> => Array.isArray(out)

/** Nothing is buffered: wait for the network. */
export const WAIT: unique symbol = Symbol("WAIT")

export const readAnswer = (
  answer: Transport.Answer,
  state: TurnState,
  owned: Owned,
  watch: Watch,
  idle: Duration.Duration
): Answer => {
  const body = answer.body
  watch.onIdle = () => body.destroy(new IdleTimeout())
  const reader = makeReader(state.accountId)
  let ended = false
  let waiter: (() => void) | undefined
  // Something arrived since the last `next()` while no one waited: the next `onWake` must not
  // sleep through it ('readable' is not emitted again for data already buffered).
  let signalled = false
  const wake = () => {
    if (waiter === undefined) {
      signalled = true
      return
    }
    const resume = waiter
    waiter = undefined
    watch.arrived()
    resume()
  }
  body.listen(wake)
  owned.push({ destroy: () => body.listen(undefined) })
  const takeWindows = () => {
    const windows = reader.takeWindows()
    if (windows !== undefined) state.sawEvent(windows)
    return windows
  }
  const next = () => {
    signalled = false
    for (;;) {
      if (ended) return null
      const chunk = body.read()
      const outcome = body.outcome
      let out: Array<ChatEvent.ChatEvent> | CodexError
      if (chunk !== null) out = reader.push(chunk)
      else if (outcome === undefined) return WAIT
      else if (outcome._tag === "Broken" && !reader.completed) {
        return outcome.error instanceof IdleTimeout ? idleError(idle, "no data") : broke(outcome.error)
      }
      // Once the turn is complete, a connection that breaks or idles is of no concern.
      else {
        ended = true
        out = reader.end()
      }
      if (!Array.isArray(out) || Arr.isArrayNonEmpty(out)) return out
    }
  }
  return {
    next,
    onWake: (resume) => {
      if (signalled) {
        signalled = false
        return resume()
      }
      watch.waiting()
      waiter = resume
    },
    cancelWake: () => {
      waiter = undefined
      watch.arrived()
    },
    takeWindows
  }
}

/** One step of a pulled answer: the next events, `null` at its end, or a failure. */
export type Step = Effect.Effect<Arr.NonEmptyReadonlyArray<ChatEvent.ChatEvent> | null, CodexError>

/**
 * The answer as steps the caller pulls (backpressure: the next chunk is read only when asked
 * for). Windows that events report are handed to `observe` before the events that carried them.
 */
export const pullSteps = (
  answer: Answer,
  accountId: string,
  observe: (accountId: string, windows: ReadonlyArray<UsageWindow>) => Effect.Effect<void>
): Step => {
  const wait: Effect.Effect<void> = Effect.callback((resume) => {
    answer.onWake(() => resume(Effect.void))
    return Effect.sync(answer.cancelWake)
  })
  const step = (): Step => {
    const out = answer.next()
    if (out === WAIT) return next
    const windows = answer.takeWindows()
    const result: Step = out === null || isEvents(out) ? Effect.succeed(out) : Effect.fail(out)
    return windows === undefined ? result : Effect.andThen(observe(accountId, windows), result)
  }
  const next: Step = Effect.flatMap(wait, step)
  return Effect.suspend(step)
}

/**
 * The answer folded into `turn` as the socket delivers it: no fiber resumes per chunk, which a
 * whole-turn `chat` does not need (its result is small, so reading ahead is harmless). The
 * windows events reported are handed to `observe` at the end, however it ends.
 */
export const foldInto = (
  answer: Answer,
  turn: Gathered,
  accountId: string,
  observe: (accountId: string, windows: ReadonlyArray<UsageWindow>) => Effect.Effect<void>
): Effect.Effect<void, CodexError> =>
  Effect.callback<void, CodexError>((resume) => {
    const seen: Array<UsageWindow> = []
    const settle = (result: Effect.Effect<void, CodexError>) =>
      resume(seen.length === 0 ? result : Effect.andThen(observe(accountId, seen), result))
    const run = () => {
      for (;;) {
        const out = answer.next()
        const windows = answer.takeWindows()
        if (windows !== undefined) seen.push(...windows)
        if (out === WAIT) return answer.onWake(run)
        if (out === null) return settle(Effect.void)
        if (!isEvents(out)) return settle(Effect.fail(out))
        turn.add(out)
      }
    }
    run()
    return Effect.sync(answer.cancelWake)
  })

/** The idle failure, named after the limit that passed. */
export const idleError = (idle: Duration.Duration, what: string) =>
  new UpstreamUnavailable({ reason: "idle", detail: `${what} for ${Duration.format(idle)} (idle stream)` })

const broke = (cause: unknown): CodexError =>
  new UpstreamUnavailable({ reason: "stream_cut", detail: `the stream broke (${firstLine(cause)})` })

/** The events of one answer, chunk by chunk: SSE parsing and event decoding, failures mapped. */
interface Reader {
  /** `response.completed` has been seen: what follows cannot fail the turn. */
  readonly completed: boolean
  readonly push: (chunk: Uint8Array) => Array<ChatEvent.ChatEvent> | CodexError
  /** The last events; a stream that ends without `response.completed` is a retryable failure. */
  readonly end: () => Array<ChatEvent.ChatEvent> | CodexError
  /** The windows `codex.rate_limits` events reported since the last call. */
  readonly takeWindows: () => Array<UsageWindow> | undefined
}

const makeReader = (accountId: string): Reader => {
  const parser = makeParser()
  const decoder = makeEventDecoder()
  let windows: Array<UsageWindow> | undefined
  const reader = {
    completed: false,
    push: (chunk: Uint8Array) => decode(parser.push(chunk)),
    end: (): Array<ChatEvent.ChatEvent> | CodexError => {
      const out = decode(parser.end())
      return Array.isArray(out) && !reader.completed
        ? new UpstreamUnavailable({ reason: "stream_cut", detail: "the stream closed before response.completed" })
        : out
    },
    takeWindows: () => {
      const taken = windows
      windows = undefined
      return taken
    }
  }
  const decode = (messages: ReadonlyArray<SseMessage>): Array<ChatEvent.ChatEvent> | CodexError => {
    const out: Array<ChatEvent.ChatEvent> = []
    for (const message of messages) {
      const event = decoder.decode(message)
      if (event === undefined) continue
      // After response.completed the turn stands: a torn or odd trailing event cannot undo it.
      if (reader.completed && (event._tag === "MalformedEvent" || event._tag === "Failed")) continue
      switch (event._tag) {
        case "MalformedEvent":
          return new UpstreamUnavailable({ reason: "malformed_event", detail: `a malformed event (${event.message})` })
        case "Failed":
          return failedError(event, accountId)
        case "Completed":
          reader.completed = true
          break
        case "RateLimits":
          ;(windows ??= []).push(...fromEvent(event))
          break
      }
      out.push(event)
    }
    return out
  }
  return reader
}

/** Whether a batch has an event with content (not just `Created` or `RateLimits`). */
export const hasContent = (events: ReadonlyArray<ChatEvent.ChatEvent>) => {
  for (const event of events) if (event._tag !== "Created" && event._tag !== "RateLimits") return true
  return false
}
