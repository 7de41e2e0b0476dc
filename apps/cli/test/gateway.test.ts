// `nexus serve` end to end: the official `openai` SDK against a real `nexus serve` child process,
// on a scratch database and the emulator; keys made and revoked with `nexus gateway keys`.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect } from "effect"
import OpenAI, { APIError, APIUserAbortError } from "openai"
import { createKey, serve, usageOf } from "./gatewayHelpers.ts"
import { nexus } from "./helpers.ts"
import { assertNoTokenShapes, signedIn, signIn } from "./session.ts"
import { TestLive } from "./helpers.ts"

const client = (baseURL: string, apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0 })

/** The SDK's error for a call that must fail. */
const failure = (call: () => Promise<unknown>) =>
  Effect.promise(() =>
    call().then(
      () => assert.fail("the call succeeded"),
      (error: unknown) => {
        assert.instanceOf(error, APIError)
        return error as APIError
      }
    )
  )

layer(TestLive, { excludeTestServices: true, timeout: "120 seconds" })("nexus serve", (it) => {
  it.effect(
    "the openai SDK: chat completions streamed and not, a tool round trip, structured output, the Responses API streamed and not, the models list",
    () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        const { key } = yield* createKey(env, "sdk")
        const { baseURL } = yield* serve(env)
        const openai = client(baseURL, key)

        const plain = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "gpt-5.5",
            messages: [
              { role: "system", content: "Be brief." },
              { role: "user", content: "hello through the gateway" }
            ],
            temperature: 0.2
          })
        )
        assert.strictEqual(plain.object, "chat.completion")
        assert.strictEqual(plain.choices[0]!.message.content, "hello through the gateway")
        assert.strictEqual(plain.choices[0]!.finish_reason, "stop")
        assert.strictEqual(plain.model, "gpt-5.5")
        assert.isAbove(plain.usage!.prompt_tokens, 0)

        const { data: raw, response } = yield* Effect.promise(() =>
          openai.chat.completions
            .create({ model: "gpt-5.5", messages: [{ role: "user", content: "headers" }], temperature: 1 })
            .withResponse()
        )
        assert.strictEqual(raw.choices[0]!.message.content, "headers")
        assert.strictEqual(response.headers.get("x-nexus-dropped"), "temperature")
        assert.strictEqual(response.headers.get("x-nexus-model"), "gpt-5.5")

        const stream = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "gpt-5.5",
            messages: [{ role: "user", content: "stream these words back to me please" }],
            stream: true,
            stream_options: { include_usage: true }
          })
        )
        const deltas: Array<string> = []
        let finish: string | null = null
        let usage: OpenAI.CompletionUsage | undefined
        yield* Effect.promise(async () => {
          for await (const chunk of stream) {
            if (chunk.usage) usage = chunk.usage
            const choice = chunk.choices[0]
            if (choice?.delta.content) deltas.push(choice.delta.content)
            if (choice?.finish_reason) finish = choice.finish_reason
          }
        })
        assert.isAbove(deltas.length, 2)
        assert.strictEqual(deltas.join(""), "stream these words back to me please")
        assert.strictEqual(finish, "stop")
        assert.isAbove(usage?.completion_tokens ?? 0, 0)

        // An image part reaches the backend as an input_image.
        const image = "data:image/png;base64,iVBORw0KGgo="
        const seen = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "gpt-5.5",
            messages: [
              {
                role: "user",
                content: [
                  { type: "text", text: "describe the picture" },
                  { type: "image_url", image_url: { url: image, detail: "low" } }
                ]
              }
            ]
          })
        )
        assert.strictEqual(seen.choices[0]!.message.content, "describe the picture")
        const emulator = yield* Emulator.Emulator
        const sent = yield* emulator.lastRequest("responses")
        assert.include(JSON.stringify(sent), `"input_image","image_url":"${image}"`)

        // A tool round trip: the model calls the tool, the client answers, the model uses the answer.
        const tools: Array<OpenAI.ChatCompletionTool> = [
          {
            type: "function",
            function: {
              name: "get_weather",
              description: "The weather in a city",
              parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
            }
          }
        ]
        const asked: Array<OpenAI.ChatCompletionMessageParam> = [
          { role: "user", content: "call get_weather for Paris" }
        ]
        const call = yield* Effect.promise(() =>
          openai.chat.completions.create({ model: "gpt-5.5", messages: asked, tools, tool_choice: "required" })
        )
        const toolCall = call.choices[0]!.message.tool_calls?.[0]
        assert.strictEqual(call.choices[0]!.finish_reason, "tool_calls")
        assert.strictEqual(toolCall?.type, "function")
        if (toolCall?.type !== "function") return
        assert.strictEqual(toolCall.function.name, "get_weather")
        const answered = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "gpt-5.5",
            tools,
            messages: [
              ...asked,
              call.choices[0]!.message,
              { role: "tool", tool_call_id: toolCall.id, content: "sunny, 21 °C" }
            ]
          })
        )
        assert.strictEqual(answered.choices[0]!.message.content, "get_weather returned: sunny, 21 °C")

        // Structured output: JSON that satisfies the schema.
        const structured = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "gpt-5.5",
            messages: [{ role: "user", content: "a city and its population" }],
            response_format: {
              type: "json_schema",
              json_schema: {
                name: "city",
                strict: true,
                schema: {
                  type: "object",
                  properties: { name: { type: "string" }, population: { type: "integer" } },
                  required: ["name", "population"],
                  additionalProperties: false
                }
              }
            }
          })
        )
        const city = JSON.parse(structured.choices[0]!.message.content!) as Record<string, unknown>
        assert.typeOf(city.name, "string")
        assert.typeOf(city.population, "number")

        // The Responses API, streamed and not.
        const events = yield* Effect.promise(() =>
          openai.responses.create({
            model: "gpt-5.5",
            instructions: "Answer plainly.",
            input: "responses stream please",
            stream: true
          })
        )
        const types: Array<string> = []
        let text = ""
        let completed: OpenAI.Responses.Response | undefined
        yield* Effect.promise(async () => {
          for await (const event of events) {
            types.push(event.type)
            if (event.type === "response.output_text.delta") text += event.delta
            if (event.type === "response.completed") completed = event.response
          }
        })
        assert.strictEqual(types[0], "response.created")
        assert.include(types, "response.output_item.added")
        assert.include(types, "response.output_item.done")
        assert.strictEqual(types.at(-1), "response.completed")
        assert.strictEqual(text, "responses stream please")
        const message = completed?.output.find((item) => item.type === "message")
        assert.deepInclude(message?.type === "message" ? message.content[0] : {}, { text: "responses stream please" })
        assert.isAbove(completed?.usage?.output_tokens ?? 0, 0)
        const whole = yield* Effect.promise(() =>
          openai.responses.create({ model: "gpt-5.5", input: "whole response" })
        )
        assert.strictEqual(whole.status, "completed")
        assert.strictEqual(whole.output_text, "whole response")

        const models = yield* Effect.promise(async () => {
          const ids: Array<string> = []
          for await (const model of openai.models.list()) ids.push(model.id)
          return ids
        })
        assert.includeMembers(models, ["gpt-5.5", "gpt-4o", "auto"])
        const one = yield* Effect.promise(() => openai.models.retrieve("gpt-5.5"))
        assert.strictEqual(one.id, "gpt-5.5")

        // Usage is recorded per key, model and account.
        const sdk = yield* usageOf(env, "sdk")
        assert.isAtLeast(sdk.totals.requests, 8)
        assert.isAbove(sdk.totals.outputTokens, 0)
        assertNoTokenShapes(sdk.output)
      }).pipe(Effect.scoped)
  )

  it.effect(
    "errors in the OpenAI shape: a bad key (401), a revoked key, an unknown model (404), a refused parameter (400), every account at its limit (429 with Retry-After)",
    () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        const { key } = yield* createKey(env, "errors")
        const { baseURL, running } = yield* serve(env)

        const bad = yield* failure(() =>
          client(baseURL, "nxs_not-a-key-of-this-gateway-at-all").chat.completions.create({
            model: "gpt-5.5",
            messages: [{ role: "user", content: "hi" }]
          })
        )
        assert.strictEqual(bad.status, 401)
        assert.strictEqual(bad.code, "invalid_api_key")
        assert.include(bad.message, "nexus gateway keys create")

        const openai = client(baseURL, key)
        const unknown = yield* failure(() =>
          openai.chat.completions.create({ model: "gpt-9-imaginary", messages: [{ role: "user", content: "hi" }] })
        )
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(unknown.code, "model_not_found")
        assert.include(unknown.message, "gpt-5.5")

        const refused = yield* failure(() =>
          openai.chat.completions.create({ model: "gpt-5.5", n: 2, messages: [{ role: "user", content: "hi" }] })
        )
        assert.strictEqual(refused.status, 400)
        assert.strictEqual(refused.param, "n")

        // A key revoked from another process (the CLI) is refused within VERIFIED_FOR, though this
        // gateway had it verified and cached.
        const second = yield* createKey(env, "short-lived")
        const used = yield* Effect.promise(() =>
          client(baseURL, second.key).chat.completions.create({
            model: "gpt-5.5",
            messages: [{ role: "user", content: "hi" }]
          })
        )
        assert.strictEqual(used.choices[0]!.message.content, "hi")
        const revoked = yield* nexus(["gateway", "keys", "revoke", "short-lived"], env)
        assert.strictEqual(revoked.code, 0, revoked.stderr)
        const revokedAt = Date.now()
        let gone: APIError | undefined
        while (gone === undefined && Date.now() - revokedAt < 8_000) {
          gone = yield* Effect.promise(() =>
            client(baseURL, second.key)
              .models.list()
              .then(
                () => undefined,
                (error: unknown) => error as APIError
              )
          )
          if (gone === undefined) yield* Effect.sleep("200 millis")
        }
        assert.strictEqual(gone?.status, 401)
        assert.include(gone?.message, "revoked")
        assert.isAtMost(Date.now() - revokedAt, 5_000 + 1_500)
        // Every account at its usage limit: 429, Retry-After until the earliest reset, streamed or not.
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "usage_limit", times: 10 })
        const limited = yield* failure(() =>
          openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "over the limit" }] })
        )
        assert.strictEqual(limited.status, 429)
        const retryAfter = Number(limited.headers?.get("retry-after"))
        assert.isAbove(retryAfter, 0)
        assert.strictEqual(limited.code, "usage_limit_reached")
        assert.include(limited.message, "becomes usable at")
        // The Codex CLI's shape of a usage limit: its type, and when it resets (Unix seconds).
        const limit = limited.error as { type?: string; resets_at?: number }
        assert.strictEqual(limit.type, "usage_limit_reached")
        assert.isAbove(limit.resets_at ?? 0, Date.now() / 1000)
        const limitedStream = yield* failure(() =>
          openai.chat.completions.create({
            model: "gpt-5.5",
            stream: true,
            messages: [{ role: "user", content: "over the limit, streamed" }]
          })
        )
        assert.strictEqual(limitedStream.status, 429)
        assert.isAbove(Number(limitedStream.headers?.get("retry-after")), 0)
        yield* emulator.clearFaults

        // Every refused request of a known key is in its usage, with its status.
        yield* Effect.sleep("300 millis")
        assert.strictEqual((yield* usageOf(env, "errors")).totals.errors, 4, "404, 400 and the two 429s")
        assert.notInclude(running.stderr(), second.key)
        assert.notInclude(running.stderr(), key)
        const listed = yield* nexus(["gateway", "keys", "list", "--json"], env)
        assert.notInclude(listed.stdout, second.key)
        assert.include(listed.stdout, "short-lived")
      }).pipe(Effect.scoped)
  )

  it.effect("a failing backend is a 502 (not a 429), streamed or not, and an unknown x-nexus-account a 400", () =>
    Effect.gen(function* () {
      const env = yield* signedIn
      const { key } = yield* createKey(env, "outage")
      // One attempt per turn: the client's own retries would only make the test slower.
      const { baseURL } = yield* serve({ ...env, NEXUS_CODEX_ATTEMPTS: "1" })
      const openai = client(baseURL, key)
      const emulator = yield* Emulator.Emulator
      yield* emulator.injectFault({ kind: "server_error", times: 2 })
      const down = yield* failure(() =>
        openai.chat.completions.create({ model: "gpt-5.5", messages: [{ role: "user", content: "is it up?" }] })
      )
      assert.strictEqual(down.status, 502)
      assert.strictEqual(down.code, "upstream_unavailable")
      const downStreamed = yield* failure(() =>
        openai.responses.create({ model: "gpt-5.5", input: "is it up?", stream: true })
      )
      assert.strictEqual(downStreamed.status, 502)
      yield* emulator.clearFaults
      // The pool cools the pair down after repeated failures: wait it out, not part of this test.
      const nobody = yield* failure(() =>
        openai.chat.completions.create(
          { model: "gpt-5.5", messages: [{ role: "user", content: "hi" }] },
          { headers: { "x-nexus-account": "nobody-by-that-name" } }
        )
      )
      assert.strictEqual(nobody.status, 400)
      assert.strictEqual(nobody.param, "x-nexus-account")
    }).pipe(Effect.scoped)
  )

  it.effect(
    "two accounts: a usage limit on one mid-run moves the gateway's traffic to the other, with no client error",
    () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        // A label HTTP headers cannot carry as it is: the gateway percent-encodes it.
        const label = "équipe-東京"
        const second = yield* signIn(env, label, "pro", "acct-second")
        const { key } = yield* createKey(env, "failover")
        const { baseURL } = yield* serve(env)
        const openai = client(baseURL, key)
        const emulator = yield* Emulator.Emulator
        const served: Array<string> = []
        let limited: string | undefined
        for (let i = 0; i < 12; i++) {
          // Mid-run, the account that served last reaches its limit.
          if (i === 4) {
            limited = served.at(-1)!
            const id = limited === label ? second : (yield* emulator.accounts).find((a) => a.id !== second)!.id
            yield* emulator.injectFault({ kind: "usage_limit", account: id, times: 1000 })
          }
          const { data, response } = yield* Effect.promise(() =>
            openai.chat.completions
              .create({ model: "gpt-5.5", messages: [{ role: "user", content: `turn ${i}` }] })
              .withResponse()
          )
          assert.strictEqual(data.choices[0]!.message.content, `turn ${i}`)
          served.push(decodeURIComponent(response.headers.get("x-nexus-account")!))
        }
        assert.isDefined(limited)
        assert.deepStrictEqual(
          served.slice(4).filter((account) => account === limited),
          [],
          `after the limit no turn goes to ${limited}: ${served.join(", ")}`
        )
        yield* emulator.clearFaults
      }).pipe(Effect.scoped)
  )

  it.effect("SIGTERM: the stream in hand finishes, its usage is written, and nexus serve exits 0", () =>
    Effect.gen(function* () {
      const env = yield* signedIn
      const { key } = yield* createKey(env, "drain")
      const { running, baseURL } = yield* serve(env)
      const emulator = yield* Emulator.Emulator
      // The upstream pauses for a second mid-stream: the signal comes during the pause.
      yield* emulator.injectFault({ kind: "idle", afterEvents: 6, delayMs: 1_000, times: 1 })
      const text = yield* Effect.promise(async () => {
        const stream = await client(baseURL, key).chat.completions.create({
          model: "gpt-5.5",
          stream: true,
          messages: [{ role: "user", content: "finish me even while stopping" }]
        })
        let got = ""
        for await (const chunk of stream) {
          const content = chunk.choices[0]?.delta.content
          if (content && got.length === 0) running.child.kill("SIGTERM")
          got += content ?? ""
        }
        // The server was still there when the stream ended: it drained, it was not just late.
        return { got, alive: running.child.exitCode === null && running.child.signalCode === null }
      })
      assert.strictEqual(text.got, "finish me even while stopping")
      assert.isTrue(text.alive)
      const outcome = yield* Effect.promise(() => running.done)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.include(outcome.stderr, "SIGTERM: stopping")
      const { totals } = yield* usageOf(env, "drain")
      assert.deepStrictEqual([totals.requests, totals.errors], [1, 0])
    }).pipe(Effect.scoped)
  )

  it.effect("a client that disconnects mid-stream cancels the upstream request", () =>
    Effect.gen(function* () {
      const env = yield* signedIn
      const { key } = yield* createKey(env, "disconnect")
      const { baseURL } = yield* serve(env)
      const emulator = yield* Emulator.Emulator
      const before = (yield* emulator.counters).streams
      // The upstream sends a few events, then stays silent: only a cancellation can end it.
      yield* emulator.injectFault({ kind: "idle", afterEvents: 6, times: 1 })
      const openai = client(baseURL, key)
      const got = yield* Effect.promise(async () => {
        const controller = new AbortController()
        const stream = await openai.chat.completions.create(
          { model: "gpt-5.5", stream: true, messages: [{ role: "user", content: "a long answer that never ends" }] },
          { signal: controller.signal }
        )
        const seen: Array<string> = []
        try {
          for await (const chunk of stream) {
            const content = chunk.choices[0]?.delta.content
            if (content) {
              seen.push(content)
              controller.abort()
            }
          }
        } catch (error) {
          if (!(error instanceof APIUserAbortError)) throw error
        }
        return seen
      })
      assert.isAbove(got.length, 0)
      // The gateway closes its upstream request: the emulator sees the SSE reply closed before its end.
      let aborted = (yield* emulator.counters).streams
      for (let i = 0; i < 100 && aborted.aborted === before.aborted; i++) {
        yield* Effect.sleep("50 millis")
        aborted = (yield* emulator.counters).streams
      }
      assert.strictEqual(aborted.aborted, before.aborted + 1)
      assert.strictEqual(aborted.completed, before.completed)
      // Its usage is still recorded, as a 499 (an error): the request ended with the client.
      let usage = yield* usageOf(env, "disconnect")
      for (let i = 0; i < 50 && usage.totals.requests === 0; i++) {
        yield* Effect.sleep("100 millis")
        usage = yield* usageOf(env, "disconnect")
      }
      assert.deepStrictEqual([usage.totals.requests, usage.totals.errors], [1, 1])
    }).pipe(Effect.scoped)
  )
})
