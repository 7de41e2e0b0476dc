// The seams the client offers a router: how every error of the family classifies (pure), per-call
// retry options, each result's own usage windows under concurrency, and the idle limit on the
// Effect clock. Real emulator over real HTTP, real Postgres; only the clock of the last tests is a
// TestClock, provided around the client those tests build.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it as unit, layer } from "@effect/vitest"
import { Errors as OAuthErrors } from "@nexus/oauth"
import { RecordedSpans } from "@nexus/testing"
import { Credentials, Errors as TokenStoreErrors } from "@nexus/token-store"
import { Context, Duration, Effect, Fiber, Layer, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import { type CallOptions, type ChatResult, CodexClient, type Retry, type Settings } from "../src/CodexClient.ts"
import {
  type CodexError,
  ContextLengthExceeded,
  InvalidRequest,
  isRetryable,
  RateLimited,
  retryAfter,
  Unauthorized,
  UpstreamUnavailable,
  UsageLimitReached
} from "../src/Errors.ts"
import { UnknownModel } from "../src/ModelCatalog.ts"
import { ClientLive, request, setup } from "./helpers.ts"

/** An error, and what the classifier must say of it: retryable, and the delay asked for (ms). */
interface Classified<E> {
  readonly what: string
  readonly error: E
  readonly retryable: boolean
  readonly retryAfterMillis?: number
}

/** Every tag of the family, each with its cases: a tag added to CodexError must be added here. */
const classified: {
  readonly [Tag in CodexError["_tag"]]: ReadonlyArray<Classified<Extract<CodexError, { readonly _tag: Tag }>>>
} = {
  UsageLimitReached: [
    {
      what: "a usage limit is not retried on the same account, and its reset is no retry delay",
      error: new UsageLimitReached({ account: "acct", plan: "plus", resetsAt: 1_900_000_000 }),
      retryable: false
    }
  ],
  RateLimited: [
    {
      what: "a rate limit is retryable, after the delay the backend asked for",
      error: new RateLimited({ detail: "slow down", retryAfter: Duration.millis(1_500) }),
      retryable: true,
      retryAfterMillis: 1_500
    },
    {
      what: "a rate limit without a delay is retryable, with no delay asked for",
      error: new RateLimited({ detail: "slow down" }),
      retryable: true
    }
  ],
  Unauthorized: [
    {
      what: "credentials refused after the recovery are not retried",
      error: new Unauthorized({ account: "acct", detail: "token_revoked" }),
      retryable: false
    }
  ],
  InvalidRequest: [
    {
      what: "a refused request is not retried",
      error: new InvalidRequest({ status: 400, detail: "bad" }),
      retryable: false
    }
  ],
  ContextLengthExceeded: [
    {
      what: "a conversation too long for the window is not retried",
      error: new ContextLengthExceeded({ detail: "too long" }),
      retryable: false
    }
  ],
  UpstreamUnavailable: [
    ...(["unreachable", "idle", "server_error", "stream_cut", "malformed_event", "response_failed"] as const).map(
      (reason) => ({
        what: `an unavailable backend (${reason}) is retryable, with no delay asked for`,
        error: new UpstreamUnavailable({ reason, detail: reason }),
        retryable: true
      })
    ),
    {
      what: "an unavailable backend that sent Retry-After is retryable after that delay",
      error: new UpstreamUnavailable({ reason: "server_error", detail: "503", retryAfter: Duration.seconds(2) }),
      retryable: true,
      retryAfterMillis: 2_000
    }
  ],
  UnknownModel: [
    {
      what: "an unknown model is not retried",
      error: new UnknownModel({ model: "gpt-2", available: ["gpt-5.5"] }),
      retryable: false
    }
  ],
  ReauthenticationRequired: [
    {
      what: "a sign-in that needs a new login is not retried",
      error: new Credentials.ReauthenticationRequired({ account: "acct", reason: "reused" }),
      retryable: false
    }
  ],
  TokenNotFound: [
    {
      what: "an account that is not signed in is not retried",
      error: new TokenStoreErrors.TokenNotFound({ account: "acct" }),
      retryable: false
    }
  ],
  TokenStoreUnavailable: [
    {
      what: "a token store that failed for a passing reason is retryable (its own `retryable`), with no delay",
      error: new TokenStoreErrors.TokenStoreUnavailable({
        store: "postgres",
        reason: "ConnectionError",
        detail: "connection refused",
        retryable: true
      }),
      retryable: true
    },
    {
      what: "a token store that cannot be used as is is not retried (its own `retryable`)",
      error: new TokenStoreErrors.TokenStoreUnavailable({
        store: "postgres",
        reason: "DecryptionFailed",
        detail: "wrong key",
        retryable: false
      }),
      retryable: false
    }
  ],
  OAuthHttpError: [
    {
      what: "an issuer that asked to wait is retryable after its Retry-After seconds, as a Duration",
      error: new OAuthErrors.OAuthHttpError({
        operation: "the token refresh",
        status: 429,
        detail: "slow down",
        retryable: true,
        retryAfter: 3
      }),
      retryable: true,
      retryAfterMillis: 3_000
    },
    {
      what: "an issuer that failed for a passing reason is retryable, with no delay asked for",
      error: new OAuthErrors.OAuthHttpError({ operation: "the token refresh", detail: "ECONNRESET", retryable: true }),
      retryable: true
    },
    {
      what: "an issuer refusal that retrying cannot help is not retried (its own `retryable`)",
      error: new OAuthErrors.OAuthHttpError({
        operation: "the token refresh",
        status: 400,
        detail: "invalid_client",
        retryable: false
      }),
      retryable: false
    }
  ]
}

describe("Errors.isRetryable and Errors.retryAfter over every error of the family", () => {
  for (const cases of Object.values(classified)) {
    for (const { what, error, retryable, retryAfterMillis } of cases as ReadonlyArray<Classified<CodexError>>) {
      unit(`${error._tag}: ${what}`, () => {
        assert.strictEqual(isRetryable(error), retryable)
        assert.strictEqual(Option.getOrUndefined(Option.map(retryAfter(error), Duration.toMillis)), retryAfterMillis)
      })
    }
  }
})

/** Waits in real time (a TestClock does not move real timers). */
const realSleep = (millis: number) => Effect.promise(() => new Promise<void>((resume) => setTimeout(resume, millis)))

/** Polls `check` every 20 real milliseconds until it holds. */
const eventually = (check: Effect.Effect<boolean>): Effect.Effect<void> =>
  Effect.flatMap(check, (holds) => (holds ? Effect.void : Effect.andThen(realSleep(20), eventually(check))))

/** The retries a call was told of, and the `onRetry` that records them. */
const recordRetries = () => {
  const retries: Array<Retry> = []
  return { retries, onRetry: (retry: Retry) => Effect.sync(() => void retries.push(retry)) }
}

/** The reason of an UpstreamUnavailable, else undefined. */
const reasonOf = (error: CodexError) => (error._tag === "UpstreamUnavailable" ? error.reason : undefined)

/** A client of its own, built where it is called: its idle sweeper runs on the caller's clock. */
const ownClient = (settings: Partial<Settings>) =>
  Effect.map(
    Layer.build(CodexClient.layerNoDeps(settings).pipe(Layer.provide(NodeHttpClient.layerDispatcher))),
    (context) => Context.get(context, CodexClient)
  )

layer(ClientLive, { excludeTestServices: true, timeout: 60_000 })("the client's seams against the emulator", (it) => {
  /** A chat and a stream, each run to its end. */
  const calls = {
    chat: (client: CodexClient["Service"], call: CallOptions) => client.chat(request("keep trying"), call),
    stream: (client: CodexClient["Service"], call: CallOptions) =>
      Stream.runDrain(client.stream(request("keep trying"), call))
  }

  /**
   * Runs `call` as a fresh account whose every /responses request fails with 500 (`server_error`),
   * with `attempts` when given: its error, the requests the emulator received, and the retries
   * onRetry was told of.
   */
  const alwaysFailing = (call: keyof typeof calls, attempts?: number) =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "server_error", account, times: 20 })
      const { retries, onRetry } = recordRetries()
      const error = yield* Effect.flip(
        calls[call](client, { account, onRetry, ...(attempts === undefined ? {} : { attempts }) })
      )
      assert.strictEqual(reasonOf(error), "server_error")
      return { requests: yield* requests, retries }
    })

  for (const call of ["chat", "stream"] as const) {
    it.effect(`${call} with attempts: 1 fails fast on a persistent 500: one request, no retry`, () =>
      Effect.gen(function* () {
        const { requests, retries } = yield* alwaysFailing(call, 1)
        assert.strictEqual(requests, 1)
        assert.lengthOf(retries, 0)
      })
    )

    it.effect(
      `${call} by default makes 6 attempts on a persistent 500, telling onRetry of each failed one but the last (from 1, of 6, its backoff delay, its error)`,
      () =>
        Effect.gen(function* () {
          const { requests, retries } = yield* alwaysFailing(call)
          assert.strictEqual(requests, 6)
          // One call per retry: after attempts 1 to 5; the 6th failure is returned, not retried.
          assert.deepStrictEqual(
            retries.map((retry) => [retry.attempt, retry.of]),
            [
              [1, 6],
              [2, 6],
              [3, 6],
              [4, 6],
              [5, 6]
            ]
          )
          for (const retry of retries) {
            assert.strictEqual(reasonOf(retry.error), "server_error")
            // The client's backoff (base 10 ms, doubled per attempt, ±20% jitter).
            const nominal = 10 * 2 ** (retry.attempt - 1)
            assert.isAtLeast(Duration.toMillis(retry.delay), nominal * 0.8 - 1e-9)
            assert.isAtMost(Duration.toMillis(retry.delay), nominal * 1.2 + 1e-9)
          }
        })
    )
  }

  it.effect("attempts per call bound the retries: attempts: 3 makes 3 requests and 2 onRetry calls", () =>
    Effect.gen(function* () {
      const { requests, retries } = yield* alwaysFailing("chat", 3)
      assert.strictEqual(requests, 3)
      assert.deepStrictEqual(
        retries.map((retry) => [retry.attempt, retry.of]),
        [
          [1, 3],
          [2, 3]
        ]
      )
    })
  )

  it.effect("onRetry's delay is the backend's own Retry-After when it gave one", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "rate_limit", account, retryAfterSeconds: 0.3 })
      const { retries, onRetry } = recordRetries()
      const result = yield* client.chat(request("after the wait"), {
        account,
        onRetry
      })
      assert.strictEqual(result.text, "after the wait")
      assert.strictEqual(yield* requests, 2)
      assert.lengthOf(retries, 1)
      assert.strictEqual(retries[0]!.attempt, 1)
      assert.strictEqual(retries[0]!.error._tag, "RateLimited")
      assert.strictEqual(Duration.toMillis(retries[0]!.delay), 300)
    })
  )

  for (const call of ["chat", "stream"] as const) {
    it.effect(
      `${call} with a tracer installed: one ended CodexClient.${call} span with the model, parent of the Credentials span of its request`,
      () =>
        Effect.gen(function* () {
          const { client, account } = yield* setup
          const { spans } = yield* RecordedSpans.withRecordedSpans(calls[call](client, { account }))
          const own = spans.filter((span) => span.name === `CodexClient.${call}`)
          assert.lengthOf(own, 1)
          const span = own[0]!
          assert.strictEqual(span.status._tag, "Ended")
          assert.strictEqual(span.attributes.get("model"), "gpt-5.5")
          const credentials = spans.filter((inner) => inner.name === "Credentials.tokens")
          assert.lengthOf(credentials, 1)
          assert.strictEqual(Option.getOrUndefined(credentials[0]!.parent), span)
        })
    )
  }

  it.effect("two concurrent chats on two accounts each carry their own account's usage windows, not the other's", () =>
    Effect.gen(function* () {
      const first = yield* setup
      const second = yield* setup
      yield* first.emulator.updateAccount(first.account, { budget: { primary: 4, secondary: 100 } })
      yield* second.emulator.updateAccount(second.account, { budget: { primary: 10, secondary: 50 } })
      // Each answer stalls after its headers, so both turns are in flight at once: the second's
      // headers arrive before the first turn ends.
      for (const { emulator, account } of [first, second]) {
        yield* emulator.injectFault({ kind: "idle", account, afterEvents: 2, delayMs: 300 })
      }
      const [a, b] = yield* Effect.all(
        [
          first.client.chat(request("first account"), first.account),
          second.client.chat(request("second account"), second.account)
        ],
        { concurrency: "unbounded" }
      )
      const figures = (windows: typeof a.rateLimits) => windows.map((window) => [window.kind, window.usedPercent])
      assert.deepStrictEqual(figures(a.rateLimits), [
        ["five_hour", 25],
        ["weekly", 1]
      ])
      assert.deepStrictEqual(figures(b.rateLimits), [
        ["five_hour", 10],
        ["weekly", 2]
      ])
      assert.strictEqual(a.text, "first account")
      assert.strictEqual(b.text, "second account")
      assert.strictEqual(yield* first.requests, 1)
      assert.strictEqual(yield* second.requests, 1)
    })
  )

  /**
   * A chat on a client of its own with a 5-minute idle limit and one attempt, on a TestClock, whose
   * answer goes silent after two events (for good, or for `resumeAfterMs` real milliseconds: the
   * emulator keeps real time). Once the client waits, the Effect clock is moved by `silence` and the
   * turn must still be running; `then` gets its fiber, still on the TestClock.
   */
  const silentTurn = <A, E>(
    text: string,
    resumeAfterMs: number | undefined,
    silence: Duration.Duration,
    then: (fiber: Fiber.Fiber<ChatResult, CodexError>) => Effect.Effect<A, E>
  ) =>
    Effect.gen(function* () {
      const { account, emulator, requests } = yield* setup
      yield* emulator.injectFault({
        kind: "idle",
        account,
        afterEvents: 2,
        ...(resumeAfterMs === undefined ? {} : { delayMs: resumeAfterMs })
      })
      const started = Date.now()
      const outcome = yield* Effect.gen(function* () {
        const client = yield* ownClient({
          baseUrl: emulator.urls.codexBaseUrl,
          idleTimeout: Duration.minutes(5),
          attempts: 1
        })
        const fiber = yield* Effect.forkChild(client.chat(request(text), { account }))
        yield* eventually(Effect.map(requests, (count) => count === 1))
        // Time for the client to read the two events and wait for more.
        yield* realSleep(200)
        yield* TestClock.adjust(silence)
        yield* realSleep(100)
        assert.isUndefined(fiber.pollUnsafe(), "the turn ended before the idle limit")
        return yield* then(fiber)
      }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))
      assert.strictEqual(yield* requests, 1)
      return { outcome, realMillis: Date.now() - started }
    })

  it.effect(
    "the idle limit runs on the Effect clock: a silent stream fails idle once the TestClock reaches the limit, not before, without waiting it out",
    () =>
      Effect.gen(function* () {
        const { outcome: error, realMillis } = yield* silentTurn("silence", undefined, Duration.seconds(299), (fiber) =>
          Effect.andThen(TestClock.adjust(Duration.seconds(1)), Effect.flip(Fiber.join(fiber)))
        )
        assert.strictEqual(error._tag, "UpstreamUnavailable")
        assert.strictEqual(reasonOf(error), "idle")
        assert.include(error.message, "5m")
        assert.isBelow(realMillis, 5_000)
      })
  )

  it.effect("a silence shorter than the idle limit on the Effect clock does not fail the turn", () =>
    Effect.gen(function* () {
      const { outcome: result } = yield* silentTurn("patience pays", 1_000, Duration.minutes(4), Fiber.join)
      assert.strictEqual(result.text, "patience pays")
    })
  )
})
