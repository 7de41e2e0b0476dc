// Conformance: the real OpenAI Codex CLI 0.169.0 against the emulator. The emulator is only as good as
// the client it imitates, so the CLI itself judges it here: a plain turn whose catalog decodes, classic
// and lite tool round trips, 401 recovery, a reused refresh token, an exhausted plan, and the CLI's
// retries of a 500 and of a 429. Installed on demand outside the workspace; loopback traffic only.
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Emulator } from "../src/Emulator.ts"
import { bundledCatalog, CodexCli } from "./codexCli.ts"

const ACCOUNT = "00000000-0000-4000-8000-00000000c0de"

/** A fresh emulator state and a CODEX_HOME signed in to it. */
const setup = (options: Parameters<CodexCli["Service"]["home"]>[1] = {}) =>
  Effect.gen(function* () {
    const emulator = yield* Emulator
    const cli = yield* CodexCli
    yield* emulator.reset
    const home = yield* cli.home(emulator, options)
    return { emulator, cli, home }
  })

const counted = (requests: Record<string, { total: number; byAccount: Record<string, number> }>, route: string) =>
  requests[route]?.total ?? 0

/** What the CLI prints when the emulator's answers are not what it expects; none of it may appear. */
const assertNoProtocolErrors = (output: string) => {
  for (const symptom of [
    "failed to decode models response",
    "workspace backend must use an HTTPS origin",
    "incompatible payload",
    "stream closed before response.completed"
  ])
    assert.notInclude(output, symptom)
}

/** The JSON type of a value as the catalog's schema sees it. */
const jsonType = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value)

/**
 * Asserts that `value` has the shape the reference values (the same field across the CLI's bundled
 * models) share: one of their JSON types; for objects, every key that all of them have, recursively;
 * for arrays, elements shaped like theirs.
 */
const conforms = (value: unknown, references: ReadonlyArray<unknown>, path: string): void => {
  const types = new Set(references.map(jsonType))
  assert.isTrue(
    types.has(jsonType(value)),
    `${path} is ${jsonType(value)}; the CLI's bundled catalog has ${[...types].join(" | ")}`
  )
  if (Array.isArray(value)) {
    const elements = references.filter(Array.isArray).flat()
    if (elements.length > 0) value.forEach((element, i) => conforms(element, elements, `${path}[${i}]`))
  } else if (jsonType(value) === "object") {
    const objects = references.filter((reference) => jsonType(reference) === "object") as Array<Record<string, unknown>>
    const record = value as Record<string, unknown>
    for (const key of Object.keys(objects[0] ?? {})) {
      if (!objects.every((object) => key in object)) continue
      assert.property(record, key, `${path} lacks ${key}, which every model of the CLI's catalog has`)
      conforms(
        record[key],
        objects.map((object) => object[key]),
        `${path}.${key}`
      )
    }
  }
}

const marker = (name: string) => `nexus-${name}-${Math.random().toString(36).slice(2, 10)}`

layer(Layer.merge(Emulator.layer(), CodexCli.layer), { timeout: "9 minutes", excludeTestServices: true })(
  "the real Codex CLI 0.169.0 against the emulator",
  (it) => {
    it.effect(
      "a plain turn with the default model: the catalog decodes and its ETag saves refetches",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup()
          const run = yield* cli.exec(home, "hello conformance")
          assert.strictEqual(run.code, 0, run.output)
          assert.include(run.stdout, "hello conformance")
          assertNoProtocolErrors(run.output)

          const request = Option.getOrThrow(yield* emulator.lastRequest("responses"))
          const body = request.body as { model: string; input: ReadonlyArray<{ type: string }> }
          assert.strictEqual(body.model, "gpt-6.1-sol", "the CLI's default model is the catalog's first")
          assert.strictEqual(request.headers["x-openai-internal-codex-responses-lite"], "true")
          assert.strictEqual(body.input[0]?.type, "additional_tools")

          // One POST for the turn; WebSocket attempts are counted apart, for the account.
          const { requests } = yield* emulator.counters
          assert.strictEqual(counted(requests, "responses"), 1)
          assert.deepStrictEqual(requests.responses?.byAccount, { [ACCOUNT]: 1 })
          assert.isAtLeast(counted(requests, "responses_websocket"), 1)
          assert.isAtMost(
            counted(requests, "models"),
            2,
            "a catalog that decodes is fetched once or twice, not per answer"
          )

          // The real CLI sends no If-None-Match (0.169.0 reads the ETag only): it keeps the catalog with
          // the ETag the emulator gave, and refetches only when an answer's x-models-etag differs. So a
          // turn of two answers still fetches the catalog once or twice per process (its startup fetch
          // races with a first refresh, so 1 or 2), never once per answer.
          const cache = JSON.parse(readFileSync(join(home.dir, "models_cache.json"), "utf8")) as {
            etag: string
            models: Array<unknown>
          }
          const catalog = yield* fetchCatalog(emulator)
          assert.strictEqual(cache.etag, catalog.etag)
          assert.lengthOf(cache.models, catalog.models.length)
          yield* emulator.reset
          const other = yield* cli.home(emulator)
          const twoAnswers = yield* cli.exec(other, 'call wait with {"cell_id":"1"}')
          assert.strictEqual(twoAnswers.code, 0, twoAnswers.output)
          const after = (yield* emulator.counters).requests
          assert.strictEqual(counted(after, "responses"), 2)
          assert.isAtMost(counted(after, "models"), 2, "two answers must not fetch the catalog per answer")
          assertNoProtocolErrors(twoAnswers.output)
        }),
      120_000
    )

    it.effect(
      "the emulator's catalog has every field of the CLI's bundled catalog, with the same JSON types",
      () =>
        Effect.gen(function* () {
          const { emulator, cli } = yield* setup()
          const bundled = bundledCatalog(cli.bin).models
          const served = (yield* fetchCatalog(emulator)).models
          assert.isAtLeast(bundled.length, 5)
          for (const model of served) conforms(model, bundled, String(model.slug))
          const slugs = (models: ReadonlyArray<Record<string, unknown>>) => models.map((model) => model.slug).sort()
          assert.includeMembers(slugs(bundled), slugs(served), "every served slug is one the CLI knows")
        }),
      60_000
    )

    it.effect(
      "a classic tool round trip on gpt-5.5: exec_command runs echo in the read-only sandbox",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup({ model: "gpt-5.5" })
          const echoed = marker("classic")
          const run = yield* cli.exec(home, `call exec_command with {"cmd":"echo ${echoed}"}`)
          assert.strictEqual(run.code, 0, run.output)
          assertNoProtocolErrors(run.output)
          const request = Option.getOrThrow(yield* emulator.lastRequest("responses"))
          const input = (request.body as { input: ReadonlyArray<Record<string, unknown>> }).input
          const output = input.find((item) => item.type === "function_call_output")
          assert.isDefined(output, "the follow-up carries the tool's output")
          assert.include(String(output!.output), echoed)
          assert.include(run.stdout, `exec_command returned:`)
          assert.strictEqual(counted((yield* emulator.counters).requests, "responses"), 2)
        }),
      120_000
    )

    it.effect(
      "a lite round trip on the default model: a freeform exec whose JavaScript reaches the shell",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup()
          const echoed = marker("lite")
          const run = yield* cli.exec(home, `call exec with text(await tools.exec_command({cmd: 'echo ${echoed}'}))`)
          assert.strictEqual(run.code, 0, run.output)
          assertNoProtocolErrors(run.output)
          const request = Option.getOrThrow(yield* emulator.lastRequest("responses"))
          const input = (request.body as { input: ReadonlyArray<Record<string, unknown>> }).input
          const call = input.find((item) => item.type === "custom_tool_call")
          assert.strictEqual(call?.name, "exec")
          const output = input.find((item) => item.type === "custom_tool_call_output")
          assert.isDefined(output, "the follow-up carries the exec cell's output")
          assert.include(JSON.stringify(output!.output), echoed)
          assert.include(run.stdout, "exec returned:")
          assert.strictEqual(counted((yield* emulator.counters).requests, "responses"), 2, "no tool-call loop")
        }),
      120_000
    )

    it.effect(
      "a tampered access token: exactly one unauthorized_recovery refresh, the rotated tokens persisted",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup({ accessToken: (token) => `${token.slice(0, -4)}AAAA` })
          const before = home.auth()
          const run = yield* cli.exec(home, "hello after recovery")
          assert.strictEqual(run.code, 0, run.output)
          assert.include(run.stdout, "hello after recovery")
          const { refreshes } = yield* emulator.counters
          assert.deepStrictEqual(refreshes.byRefreshReason, { unauthorized_recovery: 1 })
          assert.strictEqual(refreshes.succeeded, 1)
          const after = home.auth()
          assert.notStrictEqual(after.tokens.refresh_token, before.tokens.refresh_token, "the rotated token is kept")
          assert.notStrictEqual(after.tokens.access_token, before.tokens.access_token)
          assert.match(after.tokens.refresh_token, /^rt_/)
        }),
      120_000
    )

    it.effect(
      "a refresh_token_reused refusal: the re-login message, exit 1, one refresh and no loop",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup()
          yield* emulator.expireTokens(ACCOUNT)
          yield* emulator.injectFault({ kind: "refresh_reused" })
          const run = yield* cli.exec(home, "hello")
          assert.strictEqual(run.code, 1, run.output)
          assert.include(run.output, "refresh token was already used")
          assert.include(run.output, "log out and sign in again")
          const { refreshes } = yield* emulator.counters
          assert.strictEqual(refreshes.rejected, 1, "one refresh attempt, never retried")
          assert.deepStrictEqual(refreshes.byReason, { reused: 1 })
        }),
      120_000
    )

    it.effect(
      "an exhausted usage budget: the usage-limit message at once, no retry",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup({ model: "gpt-5.5" })
          yield* emulator.updateAccount(ACCOUNT, { budget: { primary: 0, secondary: 100 } })
          const run = yield* cli.exec(home, "hello")
          assert.strictEqual(run.code, 1, run.output)
          // The CLI's own words, with a typographic apostrophe: "You’ve hit your usage limit. …"
          assert.include(run.output, "hit your usage limit")
          assert.include(run.output, "try again at")
          assert.strictEqual(counted((yield* emulator.counters).requests, "responses"), 1)
        }),
      120_000
    )

    it.effect(
      "a persistent 500: 6 turn attempts of 5 transport attempts each, then the CLI gives up",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup({ model: "gpt-5.5" })
          yield* emulator.injectFault({ kind: "server_error", probability: 1 })
          const run = yield* cli.exec(home, "hello", { timeoutMs: 150_000 })
          assert.strictEqual(run.code, 1, run.output)
          assert.include(run.output, "high demand")
          // Protocol §8: request_max_retries 4 (5 attempts) inside stream_max_retries 5 (6 attempts).
          assert.strictEqual(counted((yield* emulator.counters).requests, "responses"), 30)
        }),
      180_000
    )

    it.effect(
      "a 429 with Retry-After is retried after that delay; one without it is not retried at all",
      () =>
        Effect.gen(function* () {
          const { emulator, cli, home } = yield* setup({ model: "gpt-5.5" })
          yield* emulator.injectFault({ kind: "rate_limit", retryAfterSeconds: 1, times: 2 })
          const retried = yield* cli.exec(home, "hello after waiting")
          assert.strictEqual(retried.code, 0, retried.output)
          assert.include(retried.stdout, "hello after waiting")
          assert.strictEqual(counted((yield* emulator.counters).requests, "responses"), 3)
          assert.isAtLeast(retried.ms, 2_000, "two waits of Retry-After: 1")

          // Without Retry-After the real CLI gives up at once: it reads "try again in" only from an
          // in-stream response.failed (protocol §7), never from an HTTP 429 body.
          yield* emulator.reset
          const bare = yield* cli.home(emulator, { model: "gpt-5.5" })
          yield* emulator.injectFault({ kind: "rate_limit", retryAfterSeconds: 1, retryAfterHeader: false, times: 2 })
          const refused = yield* cli.exec(bare, "hello")
          assert.strictEqual(refused.code, 1, refused.output)
          assert.include(refused.output, "exceeded retry limit, last status: 429")
          assert.strictEqual(counted((yield* emulator.counters).requests, "responses"), 1)
        }),
      120_000
    )
  }
)

/** The catalog as the emulator serves it, read with a token like any client. */
const fetchCatalog = (emulator: Emulator["Service"]) =>
  Effect.gen(function* () {
    const tokens = yield* Effect.orDie(emulator.issueTokens())
    const reply = yield* Effect.promise(() =>
      fetch(`${emulator.urls.codexBaseUrl}/models?client_version=0.169.0`, {
        headers: { authorization: `Bearer ${tokens.access_token}`, "chatgpt-account-id": ACCOUNT }
      })
    )
    const { models } = (yield* Effect.promise(() => reply.json())) as { models: Array<Record<string, unknown>> }
    return { models, etag: reply.headers.get("etag") }
  })
