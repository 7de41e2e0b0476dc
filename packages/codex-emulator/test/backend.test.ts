// The emulated Codex backend over real loopback HTTP: authentication, request validation (protocol
// §6.3, §12), the SSE reply (§7), usage limits (§8), every fault kind, the model catalog (§9),
// workspace routing, the WebSocket refusal, and the counters tests read.
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Option, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { Emulator } from "../src/Emulator.ts"
import {
  addAccountSession,
  assertCompleted,
  assertDetail,
  assertJson,
  dataOf,
  deltasOf,
  eventOf,
  finalText,
  freshSession,
  get,
  omit,
  parseSse,
  postResponses,
  rawRequest,
  type Reply,
  type Session,
  send,
  signIn,
  type SseEvent,
  turn,
  typesOf,
  userMessage,
  weatherTool
} from "./backendHelpers.ts"

// The layer's emulator must see the real clock: its slow-first-byte and idle faults sleep for real.
const emulatorLayer = layer(Emulator.layer(), { excludeTestServices: true })

const codedError = (code: string, message: string) => ({
  error: { code, message, type: "invalid_request_error", param: null }
})
const missingAuthorization = codedError(
  "missing_authorization",
  "Missing bearer token. Sign in with ChatGPT and send it as Authorization: Bearer <token>."
)
const invalidToken = codedError(
  "invalid_token",
  "Could not parse your authentication token. Please try signing in again."
)
const tokenExpired = codedError(
  "token_expired",
  "Provided authentication token is expired. Please try signing in again."
)
const tokenRevoked = codedError("token_revoked", "Your authentication token has been revoked. Please sign in again.")

/** Event types with runs of the same delta event collapsed into one, to compare orders. */
const collapsed = (events: ReadonlyArray<SseEvent>) =>
  typesOf(events).filter((type, i, all) => !type?.endsWith(".delta") || all[i - 1] !== type)

/** Asserts the rate-limit headers every backend response carries (protocol §8). */
const assertUsageHeaders = (reply: Reply) => {
  const header = (name: string) => reply.headers.get(name) ?? `<no ${name}>`
  assert.strictEqual(header("x-codex-primary-window-minutes"), "300")
  assert.strictEqual(header("x-codex-secondary-window-minutes"), "10080")
  for (const window of ["primary", "secondary"]) {
    assert.match(header(`x-codex-${window}-used-percent`), /^\d+(\.\d+)?$/)
    assert.match(header(`x-codex-${window}-reset-at`), /^\d{10}$/)
  }
  assert.strictEqual(header("x-codex-credits-has-credits"), "false")
  assert.strictEqual(header("x-codex-credits-unlimited"), "false")
  assert.strictEqual(header("x-codex-credits-balance"), "0")
}

/** Asserts a completed stream and hands the reply back, for reading its headers. */
const assertReply = (reply: Reply) => {
  assertCompleted(reply)
  return reply
}

const usedPercent = (reply: Reply, window: "primary" | "secondary") =>
  reply.headers.get(`x-codex-${window}-used-percent`)
/** A responses-lite body as the 0.169.0 CLI sends it for its default model (protocol §6.4). */
const liteTurn = (text: string) =>
  turn(text, {
    model: "gpt-6.1-sol",
    tool_choice: "auto",
    parallel_tool_calls: false,
    reasoning: { effort: "low", context: "all_turns" },
    input: [
      {
        type: "additional_tools",
        role: "developer",
        tools: [
          {
            type: "namespace",
            name: "functions",
            description: "",
            tools: [
              {
                type: "custom",
                name: "exec",
                description: "Run JavaScript code to orchestrate tool calls",
                format: { type: "grammar", syntax: "lark", definition: "start: SOURCE\nSOURCE: /[\\s\\S]+/" }
              },
              {
                type: "function",
                name: "wait",
                description: "Waits on a yielded exec cell",
                strict: false,
                parameters: { type: "object", properties: { cell_id: { type: "string" } }, required: ["cell_id"] }
              }
            ]
          }
        ]
      },
      userMessage(text)
    ]
  })

const resetAt = (reply: Reply, window: "primary" | "secondary") =>
  Number(reply.headers.get(`x-codex-${window}-reset-at`))

const UsageLimitBody = Schema.Struct({
  error: Schema.Struct({ resets_at: Schema.Int, resets_in_seconds: Schema.Int })
})

/** Asserts the exact 429 body of an exhausted plan (protocol §8) and returns its reset instant. */
const assertUsageLimit = Effect.fnUntraced(function* (
  reply: Reply,
  plan: string,
  window: "primary" | "secondary",
  windowSeconds: number
) {
  assert.strictEqual(reply.status, 429, reply.text)
  const { error } = yield* Schema.decodeUnknownEffect(UsageLimitBody)(reply.body)
  // The clock moves while the test runs, so the countdown is checked within a few seconds.
  assert.isAtLeast(error.resets_in_seconds, windowSeconds - 5)
  assert.isAtMost(error.resets_in_seconds, windowSeconds)
  assert.deepStrictEqual(reply.body, {
    error: {
      type: "usage_limit_reached",
      message: "The usage limit has been reached",
      plan_type: plan,
      resets_at: resetAt(reply, window),
      resets_in_seconds: error.resets_in_seconds
    }
  })
  assert.strictEqual(reply.headers.get("x-codex-active-limit"), "codex")
  assert.strictEqual(usedPercent(reply, window), "100")
  assertUsageHeaders(reply)
  return error.resets_at
})

const FIVE_HOURS = 5 * 3600
const ONE_WEEK = 7 * 86_400

emulatorLayer("POST /responses: authentication", (it) => {
  it.effect("a request without a bearer token is refused with 401 missing_authorization", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertJson(yield* postResponses({ ...session, auth: {} }, turn("hi")), 401, missingAuthorization)
      const basic = { ...session.auth, authorization: "Basic dXNlcjpwYXNz" }
      assertJson(yield* postResponses({ ...session, auth: basic }, turn("hi")), 401, missingAuthorization)
    })
  )

  it.effect("a garbage or forged token is refused with 401 invalid_token", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const garbage = { ...session.auth, authorization: "Bearer not-a-jwt" }
      assertJson(yield* postResponses({ ...session, auth: garbage }, turn("hi")), 401, invalidToken)
      // The real token's claims re-signed by nobody: a changed payload breaks the signature.
      const [header, payload, signature] = session.accessToken.split(".")
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<string, unknown>
      const forged = Buffer.from(JSON.stringify({ ...claims, exp: 4_102_444_800 })).toString("base64url")
      const tampered = { ...session.auth, authorization: `Bearer ${header}.${forged}.${signature}` }
      assertJson(yield* postResponses({ ...session, auth: tampered }, turn("hi")), 401, invalidToken)
    })
  )

  it.effect("an access token older than accessTokenTtlSeconds is refused with 401 token_expired", () =>
    Effect.gen(function* () {
      const { emulator } = yield* freshSession
      yield* emulator.updateSettings({ accessTokenTtlSeconds: 600 })
      const session = yield* signIn()
      yield* emulator.advanceClock("500 seconds")
      assertCompleted(yield* postResponses(session, turn("still valid")))
      yield* emulator.advanceClock("101 seconds")
      assertJson(yield* postResponses(session, turn("expired")), 401, tokenExpired)
    })
  )

  it.effect("expireTokens expires the tokens issued so far, and a token issued afterwards works", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.expireTokens(session.accountId)
      assertJson(yield* postResponses(session, turn("hi")), 401, tokenExpired)
      const renewed = yield* signIn()
      assertCompleted(yield* postResponses(renewed, turn("hi again")))
    })
  )

  it.effect("revokeTokens revokes the tokens issued so far, and a new sign-in works", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.revokeTokens(session.accountId)
      assertJson(yield* postResponses(session, turn("hi")), 401, tokenRevoked)
      const renewed = yield* signIn()
      assertCompleted(yield* postResponses(renewed, turn("hi again")))
    })
  )

  it.effect("a request without chatgpt-account-id is refused with 403", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const auth = { authorization: `Bearer ${session.accessToken}` }
      assertDetail(
        yield* postResponses({ ...session, auth }, turn("hi")),
        403,
        "Missing chatgpt-account-id header: send the account id of the signed-in workspace."
      )
    })
  )

  it.effect("a chatgpt-account-id that is not the token's account is refused with 403", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const other = yield* addAccountSession({ email: "other@example.com" })
      const auth = { ...session.auth, "chatgpt-account-id": other.accountId }
      assertDetail(
        yield* postResponses({ ...session, auth }, turn("hi")),
        403,
        "chatgpt-account-id does not match the account of the access token."
      )
    })
  )
})

emulatorLayer("POST /responses: validation (protocol §6.3, §12)", (it) => {
  it.effect("store must be false: true or absent is refused with 400", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const refused = yield* postResponses(session, turn("hi", { store: true }))
      assertDetail(refused, 400, "Store must be set to false")
      assertUsageHeaders(refused)
      assertDetail(yield* postResponses(session, omit(turn("hi"), "store")), 400, "Store must be set to false")
    })
  )

  it.effect("stream must be true: false or absent is refused with 400", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertDetail(yield* postResponses(session, turn("hi", { stream: false })), 400, "Stream must be set to true")
      assertDetail(yield* postResponses(session, omit(turn("hi"), "stream")), 400, "Stream must be set to true")
    })
  )

  it.effect("a string input is refused with 400 Input must be a list", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertDetail(yield* postResponses(session, turn("hi", { input: "hi" })), 400, "Input must be a list")
    })
  )

  it.effect("a model outside the catalog is refused with 400 naming the model", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertDetail(
        yield* postResponses(session, turn("hi", { model: "gpt-5.1-codex" })),
        400,
        "The 'gpt-5.1-codex' model is not supported when using Codex with a ChatGPT account."
      )
    })
  )

  it.effect("sampling parameters of the public API are refused with 400 Unsupported parameter", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertDetail(
        yield* postResponses(session, turn("hi", { temperature: 0.2 })),
        400,
        "Unsupported parameter: temperature"
      )
      assertDetail(
        yield* postResponses(session, turn("hi", { max_output_tokens: 100 })),
        400,
        "Unsupported parameter: max_output_tokens"
      )
    })
  )

  it.effect("a system role message is refused with 400", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const input = [{ type: "message", role: "system", content: [{ type: "input_text", text: "Be terse." }] }]
      assertDetail(
        yield* postResponses(session, turn("hi", { input: [...input, userMessage("hi")] })),
        400,
        "System messages are not allowed"
      )
    })
  )

  it.effect("requireInstructions demands instructions: absent is refused, any string (even empty) passes", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertCompleted(yield* postResponses(session, omit(turn("hi"), "instructions")))
      yield* session.emulator.updateSettings({ requireInstructions: true })
      assertDetail(yield* postResponses(session, omit(turn("hi"), "instructions")), 400, "Instructions are required")
      assertCompleted(yield* postResponses(session, turn("hi")))
      assertCompleted(yield* postResponses(session, turn("hi", { instructions: "" })))
    })
  )

  it.effect("a body that is not JSON is refused with 400", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertDetail(
        yield* postResponses(session, '{"model": "gpt-5.5", "stream": tru'),
        400,
        "We could not parse the JSON body of your request."
      )
    })
  )

  it.effect("a refused request is not charged against the usage windows", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const refused = yield* postResponses(session, turn("hi", { temperature: 1 }))
      assert.strictEqual(refused.status, 400)
      assert.strictEqual(usedPercent(refused, "primary"), "0")
      const accepted = yield* postResponses(session, turn("hi"))
      assertCompleted(accepted)
      assert.strictEqual(usedPercent(accepted, "primary"), "1")
    })
  )

  it.effect("a zstd body (content-encoding: zstd, as the CLI sends it) is decoded", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const body = turn("compressed hello")
      const events = assertCompleted(yield* postResponses(session, body, { zstd: true }))
      assert.strictEqual(finalText(events), "compressed hello")
      const recorded = yield* session.emulator.lastRequest("responses")
      assert.deepStrictEqual(
        Option.map(recorded, (request) => request.body),
        Option.some(body)
      )
    })
  )

  it.effect("a body that is not valid zstd, or an unknown content-encoding, is refused with 400", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const garbage = yield* send(`${session.emulator.urls.codexBaseUrl}/responses`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": "zstd", ...session.auth },
        body: randomBytes(64)
      })
      assertDetail(garbage, 400, "The request body is not valid zstd")
      const unknown = yield* postResponses(session, turn("hi"), { headers: { "content-encoding": "lz4" } })
      assertDetail(unknown, 400, "Unsupported content-encoding: lz4")
    })
  )
})

emulatorLayer("POST /responses: the SSE reply (protocol §7)", (it) => {
  it.effect("a turn streams created → in_progress → message deltas → completed, echoing the user", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const reply = yield* postResponses(session, turn("Hello there, dear emulator!"))
      const events = assertCompleted(reply)
      assert.deepStrictEqual(collapsed(events), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed"
      ])
      const data = dataOf(events)
      for (const [i, event] of events.entries()) {
        assert.strictEqual(event.event, event.data?.type, "the event: line names the data's type")
        assert.strictEqual(event.data?.sequence_number, i)
      }
      assert.isAbove(data.filter((event) => event.type === "response.output_text.delta").length, 1)
      const text = "Hello there, dear emulator!"
      assert.strictEqual(deltasOf(events, "response.output_text.delta"), text)
      assert.strictEqual(eventOf(events, "response.output_text.done").text, text)
      assert.strictEqual(finalText(events), text)

      const created = eventOf(events, "response.created").response!
      const completed = eventOf(events, "response.completed").response!
      assert.strictEqual(completed.id, created.id)
      assert.match(completed.id, /^resp_/)
      assert.strictEqual(reply.headers.get("x-request-id"), completed.id)
      assert.strictEqual(completed.status, "completed")
      assert.strictEqual(completed.model, "gpt-5.5")
      assert.deepStrictEqual(completed.output, [eventOf(events, "response.output_item.done").item!])
      const usage = completed.usage!
      assert.isAbove(usage.input_tokens, 0)
      assert.isAbove(usage.output_tokens, 0)
      assert.strictEqual(usage.input_tokens_details.cached_tokens, 0)
      assert.strictEqual(usage.output_tokens_details.reasoning_tokens, 0)
      assert.strictEqual(usage.total_tokens, usage.input_tokens + usage.output_tokens)
      assertUsageHeaders(reply)
    })
  )

  it.effect("every answer carries the rate-limit headers: 200, 400 and 429", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const ok = yield* postResponses(session, turn("hi"))
      assertCompleted(ok)
      assertUsageHeaders(ok)
      const invalid = yield* postResponses(session, turn("hi", { store: true }))
      assert.strictEqual(invalid.status, 400)
      assertUsageHeaders(invalid)
      yield* session.emulator.injectFault({ kind: "rate_limit" })
      const limited = yield* postResponses(session, turn("hi"))
      assert.strictEqual(limited.status, 429)
      assertUsageHeaders(limited)
      yield* session.emulator.updateAccount(session.accountId, { budget: { primary: 1, secondary: 10 } })
      const exhausted = yield* postResponses(session, turn("hi"))
      assert.strictEqual(exhausted.status, 429)
      assertUsageHeaders(exhausted)
    })
  )

  it.effect(
    "every authenticated backend answer carries them: models 200 and 304, accounts check, usage, 403, bad JSON",
    () =>
      Effect.gen(function* () {
        const session = yield* freshSession
        const { chatgptBaseUrl } = session.emulator.urls
        assertCompleted(yield* postResponses(session, turn("spend one")))
        const models = yield* get(modelsUrl(session), session.auth)
        const notModified = yield* get(modelsUrl(session), {
          ...session.auth,
          "if-none-match": models.headers.get("etag")!
        })
        const other = yield* addAccountSession({ email: "other@example.com" })
        const replies = {
          models,
          notModified,
          accountsCheck: yield* get(`${chatgptBaseUrl}/wham/accounts/check`, session.auth),
          usage: yield* get(`${chatgptBaseUrl}/wham/usage`, session.auth),
          mismatch: yield* postResponses(
            { ...session, auth: { ...session.auth, "chatgpt-account-id": other.accountId } },
            turn("hi")
          ),
          missingAccount: yield* get(modelsUrl(session), { authorization: session.auth.authorization! }),
          badJson: yield* postResponses(session, '{"model": "gpt-5.5", "stream": tru')
        }
        assert.deepStrictEqual(
          Object.values(replies).map((reply) => reply.status),
          [200, 304, 200, 200, 403, 403, 400]
        )
        for (const reply of Object.values(replies)) {
          assertUsageHeaders(reply)
          assert.strictEqual(usedPercent(reply, "primary"), "1", "the session's account, which spent one unit")
        }
        // A request whose token does not authenticate names no account: no usage headers.
        assert.isNull((yield* get(modelsUrl(session))).headers.get("x-codex-primary-used-percent"))
      })
  )

  it.effect("scripted replies answer a matching user message with text or a tool call", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.setReplies([
        { match: "weather", text: "Sunny, 21 °C." },
        { match: "list the files", toolCall: { name: "exec_command", arguments: '{"cmd": "ls -la"}' } }
      ])
      assert.strictEqual(
        finalText(assertCompleted(yield* postResponses(session, turn("how is the weather?")))),
        "Sunny, 21 °C."
      )

      const events = assertCompleted(yield* postResponses(session, turn("please list the files")))
      const call = eventOf(events, "response.output_item.done").item!
      assert.strictEqual(call.type, "function_call")
      assert.strictEqual(call.name, "exec_command")
      assert.strictEqual(call.arguments, '{"cmd": "ls -la"}')
      assert.strictEqual(deltasOf(events, "response.function_call_arguments.delta"), '{"cmd": "ls -la"}')

      assert.strictEqual(
        finalText(assertCompleted(yield* postResponses(session, turn("no match here")))),
        "no match here"
      )
    })
  )

  it.effect("a user asking to call an offered tool gets a function call with the arguments given", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const ask = 'call get_weather with {"city":"Paris"}'
      const events = assertCompleted(yield* postResponses(session, turn(ask, { tools: [weatherTool] })))
      assert.deepStrictEqual(collapsed(events), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed"
      ])
      const added = eventOf(events, "response.output_item.added").item!
      assert.strictEqual(added.type, "function_call")
      assert.strictEqual(added.arguments, "")
      assert.strictEqual(deltasOf(events, "response.function_call_arguments.delta"), '{"city":"Paris"}')
      assert.strictEqual(eventOf(events, "response.function_call_arguments.done").arguments, '{"city":"Paris"}')
      const call = eventOf(events, "response.output_item.done").item!
      assert.strictEqual(call.type, "function_call")
      assert.strictEqual(call.name, "get_weather")
      assert.strictEqual(call.arguments, '{"city":"Paris"}')
      assert.strictEqual(call.status, "completed")
      assert.match(call.call_id ?? "", /^call_/)
      assert.deepStrictEqual(eventOf(events, "response.completed").response?.output, [call])

      // The follow-up replays the call and its output; the model answers with text about the output.
      const followUp = turn(ask, {
        tools: [weatherTool],
        input: [
          userMessage(ask),
          { type: "function_call", id: call.id, call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: "function_call_output", call_id: call.call_id, output: "18 °C and sunny" }
        ]
      })
      const answer = assertCompleted(yield* postResponses(session, followUp))
      assert.strictEqual(eventOf(answer, "response.output_item.done").item?.type, "message")
      assert.include(finalText(answer), "18 °C and sunny")
    })
  )

  it.effect("a lite request's additional_tools are offered: a freeform tool gets a custom_tool_call (§6.4)", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const source = "text(await tools.exec_command({cmd: 'echo hi'}))"
      const ask = `call exec with ${source}`
      const events = assertCompleted(yield* postResponses(session, liteTurn(ask)))
      assert.deepStrictEqual(collapsed(events), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
        "response.completed"
      ])
      assert.strictEqual(eventOf(events, "response.output_item.added").item?.input, "")
      assert.strictEqual(deltasOf(events, "response.custom_tool_call_input.delta"), source)
      assert.strictEqual(eventOf(events, "response.custom_tool_call_input.done").input, source)
      const call = eventOf(events, "response.output_item.done").item!
      assert.strictEqual(call.type, "custom_tool_call")
      assert.strictEqual(call.name, "exec")
      assert.strictEqual(call.input, source, "the raw JavaScript, not JSON")
      assert.match(call.call_id ?? "", /^call_/)
      assert.strictEqual(call.status, "completed")

      // A function tool of the same namespace still gets a function_call with JSON arguments.
      const wait = assertCompleted(yield* postResponses(session, liteTurn('call wait with {"cell_id":"7"}')))
      const waitCall = eventOf(wait, "response.output_item.done").item!
      assert.strictEqual(waitCall.type, "function_call")
      assert.strictEqual(waitCall.arguments, '{"cell_id":"7"}')
    })
  )

  it.effect("a custom_tool_call_output followed by a configuration_update is answered with text, not a new call", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const ask = "call exec with text(1)"
      const call = eventOf(
        assertCompleted(yield* postResponses(session, liteTurn(ask))),
        "response.output_item.done"
      ).item!
      const base = liteTurn(ask)
      const followUp = {
        ...base,
        input: [
          ...(base.input as Array<unknown>),
          { type: "custom_tool_call", id: call.id, call_id: call.call_id, name: "exec", input: call.input },
          {
            type: "custom_tool_call_output",
            call_id: call.call_id,
            output: [
              { type: "input_text", text: "Script completed" },
              { type: "input_text", text: "nexus-lite-output" }
            ]
          },
          { type: "configuration_update", reasoning: { effort: "low" } }
        ]
      }
      const answer = assertCompleted(yield* postResponses(session, followUp))
      assert.strictEqual(eventOf(answer, "response.output_item.done").item?.type, "message")
      assert.strictEqual(finalText(answer), "exec returned: Script completed\nnexus-lite-output")
    })
  )

  it.effect("a scripted freeform call answers custom_tool_call with its input, for apply_patch in classic tools", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
      yield* session.emulator.setReplies([{ match: "write hello", toolCall: { name: "apply_patch", input: patch } }])
      const applyPatch = { type: "custom", name: "apply_patch", description: "Edits files", format: { type: "text" } }
      const events = assertCompleted(
        yield* postResponses(session, turn("please write hello", { tools: [weatherTool, applyPatch] }))
      )
      const call = eventOf(events, "response.output_item.done").item!
      assert.strictEqual(call.type, "custom_tool_call")
      assert.strictEqual(call.name, "apply_patch")
      assert.strictEqual(call.input, patch)
      // Asked in words, the rest of the message is the freeform input.
      const asked = assertCompleted(
        yield* postResponses(session, turn("call apply_patch with *** Begin Patch", { tools: [applyPatch] }))
      )
      assert.strictEqual(eventOf(asked, "response.output_item.done").item?.input, "*** Begin Patch")
    })
  )

  it.effect(
    "tool_choice decides: auto answers text, required and a named function force a call, none never calls",
    () =>
      Effect.gen(function* () {
        const session = yield* freshSession
        const execTool = { ...weatherTool, name: "exec_command", description: "Runs a command" }
        const tools = [weatherTool, execTool]
        const callOf = (events: ReadonlyArray<SseEvent>) => eventOf(events, "response.output_item.done").item!

        const auto = assertCompleted(yield* postResponses(session, turn("What is it like outside?", { tools })))
        assert.strictEqual(callOf(auto).type, "message")

        const required = assertCompleted(
          yield* postResponses(session, turn("What is it like outside?", { tools, tool_choice: "required" }))
        )
        assert.strictEqual(callOf(required).type, "function_call")
        assert.strictEqual(callOf(required).name, "get_weather")
        assert.strictEqual(callOf(required).arguments, "{}")

        const named = assertCompleted(
          yield* postResponses(
            session,
            turn("What is it like outside?", { tools, tool_choice: { type: "function", name: "exec_command" } })
          )
        )
        assert.strictEqual(callOf(named).name, "exec_command")

        const none = assertCompleted(
          yield* postResponses(session, turn('call get_weather with {"city":"Oslo"}', { tools, tool_choice: "none" }))
        )
        assert.strictEqual(callOf(none).type, "message")
      })
  )

  it.effect("reasoning with summary auto streams a summary, and include adds encrypted_content", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const body = turn("Why is the sky blue?", {
        reasoning: { effort: "high", summary: "auto" },
        include: ["reasoning.encrypted_content"]
      })
      const events = assertCompleted(yield* postResponses(session, body))
      assert.deepStrictEqual(collapsed(events), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed"
      ])
      const summary = deltasOf(events, "response.reasoning_summary_text.delta")
      assert.isAbove(summary.length, 0)
      assert.strictEqual(eventOf(events, "response.reasoning_summary_text.done").text, summary)
      const reasoning = eventOf(events, "response.output_item.done").item!
      assert.strictEqual(reasoning.type, "reasoning")
      assert.deepStrictEqual(reasoning.summary, [{ type: "summary_text", text: summary }])
      assert.isString(reasoning.encrypted_content)
      assert.isAbove(reasoning.encrypted_content!.length, 0)
      assert.strictEqual(finalText(events), "Why is the sky blue?")
      const completed = eventOf(events, "response.completed").response!
      assert.deepStrictEqual(
        completed.output?.map((item) => [item.type, item.id]),
        [
          ["reasoning", reasoning.id],
          ["message", completed.output?.[1]?.id]
        ]
      )
      assert.isAbove(completed.usage!.output_tokens_details.reasoning_tokens, 0)
      assert.isAtLeast(completed.usage!.output_tokens, completed.usage!.output_tokens_details.reasoning_tokens)

      const withoutInclude = assertCompleted(
        yield* postResponses(session, turn("Why?", { reasoning: { effort: "low", summary: "auto" } }))
      )
      assert.isUndefined(eventOf(withoutInclude, "response.output_item.done").item?.encrypted_content)
      // Effort alone (as the 0.169.0 CLI sends it for gpt-5.5) has no summary to stream.
      const effortOnly = assertCompleted(yield* postResponses(session, turn("Why?", { reasoning: { effort: "low" } })))
      assert.notInclude(typesOf(effortOnly), "response.reasoning_summary_text.delta")
    })
  )

  it.effect("text.format json_schema answers JSON with the schema's required properties and types", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const schema = {
        type: "object",
        properties: {
          summary: { type: "string" },
          files: { type: "array", items: { type: "string" } },
          changed: { type: "integer" },
          confidence: { type: "number" },
          done: { type: "boolean" },
          severity: { type: "string", enum: ["low", "high"] }
        },
        required: ["summary", "files", "changed", "confidence", "done", "severity"],
        additionalProperties: false
      }
      const body = turn("Summarize the change", {
        text: { verbosity: "low", format: { type: "json_schema", strict: true, name: "codex_output_schema", schema } }
      })
      const text = finalText(assertCompleted(yield* postResponses(session, body)))
      const Output = Schema.Struct({
        summary: Schema.String,
        files: Schema.Array(Schema.String),
        changed: Schema.Int,
        confidence: Schema.Finite,
        done: Schema.Boolean,
        severity: Schema.Literals(["low", "high"])
      })
      yield* Schema.decodeEffect(Schema.fromJsonString(Output))(text, { onExcessProperty: "error" })
    })
  )

  it.effect(
    "json_schema answers follow $ref into $defs and definitions, length and number bounds, enums, nullables",
    () =>
      Effect.gen(function* () {
        const session = yield* freshSession
        const schema = {
          type: "object",
          properties: {
            title: { type: "string", minLength: 60 },
            code: { type: "string", maxLength: 3 },
            files: { type: "array", items: { $ref: "#/$defs/file" }, minItems: 2, maxItems: 2 },
            score: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
            count: { type: "integer", exclusiveMinimum: 100 },
            small: { type: "integer", minimum: -5, maximum: -2 },
            note: { type: ["string", "null"] },
            maybe: { anyOf: [{ type: "null" }, { $ref: "#/definitions/meta" }] },
            kind: { const: "review" },
            meta: { $ref: "#/definitions/meta" }
          },
          required: ["title", "code", "files", "score", "count", "small", "note", "maybe", "kind", "meta"],
          additionalProperties: false,
          $defs: {
            file: {
              type: "object",
              properties: {
                path: { type: "string", maxLength: 8 },
                lines: { type: "integer", minimum: 10, maximum: 20 },
                tags: { type: "array", items: { type: "string" }, maxItems: 0 }
              },
              required: ["path", "lines", "tags"],
              additionalProperties: false
            }
          },
          definitions: {
            meta: {
              properties: { ok: { type: "boolean" }, level: { enum: [3, 4] } },
              required: ["ok", "level"],
              additionalProperties: false
            }
          }
        }
        const body = turn("Review the pull request, please", {
          text: { format: { type: "json_schema", strict: true, name: "codex_output_schema", schema } }
        })
        const text = finalText(assertCompleted(yield* postResponses(session, body)))
        const Meta = Schema.Struct({ ok: Schema.Boolean, level: Schema.Literals([3, 4]) })
        const Output = Schema.Struct({
          title: Schema.String.check(Schema.isMinLength(60)),
          code: Schema.String.check(Schema.isMaxLength(3)),
          files: Schema.Array(
            Schema.Struct({
              path: Schema.String.check(Schema.isMaxLength(8)),
              lines: Schema.Int.check(Schema.isBetween({ minimum: 10, maximum: 20 })),
              tags: Schema.Array(Schema.String).check(Schema.isMaxLength(0))
            })
          ).check(Schema.isBetweenLength(2, 2)),
          score: Schema.Finite.check(
            Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMinimum: true, exclusiveMaximum: true })
          ),
          count: Schema.Int.check(Schema.isGreaterThan(100)),
          small: Schema.Int.check(Schema.isBetween({ minimum: -5, maximum: -2 })),
          note: Schema.NullOr(Schema.String),
          maybe: Schema.NullOr(Meta),
          kind: Schema.Literal("review"),
          meta: Meta
        })
        yield* Schema.decodeEffect(Schema.fromJsonString(Output))(text, { onExcessProperty: "error" })
      })
  )
})

emulatorLayer("POST /responses: usage limits (protocol §8)", (it) => {
  it.effect("over a 5-hour budget of 2 the third request is refused with 429 until the window rolls", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.updateAccount(session.accountId, { budget: { primary: 2, secondary: 100 } })
      const first = yield* postResponses(session, turn("one"))
      assertCompleted(first)
      assert.strictEqual(usedPercent(first, "primary"), "50")
      assert.strictEqual(usedPercent(first, "secondary"), "1")
      assert.strictEqual(usedPercent(assertReply(yield* postResponses(session, turn("two"))), "primary"), "100")

      const refused = yield* postResponses(session, turn("three"))
      const resetsAt = yield* assertUsageLimit(refused, "plus", "primary", FIVE_HOURS)
      assert.strictEqual(resetsAt, resetAt(first, "primary"))
      assert.strictEqual(usedPercent(refused, "secondary"), "2")

      // Five hours later the access token (one hour) has expired too: the client has signed in again.
      yield* session.emulator.advanceClock("5 hours")
      const again = yield* postResponses(yield* signIn(), turn("four"))
      assertCompleted(again)
      assert.strictEqual(usedPercent(again, "primary"), "50")
      assert.strictEqual(usedPercent(again, "secondary"), "3")
      assert.isAtLeast(resetAt(again, "primary"), resetsAt + FIVE_HOURS)
    })
  )

  it.effect("over a weekly budget of 2 the third request is refused with 429 until the week rolls", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.updateAccount(session.accountId, { budget: { primary: 100, secondary: 2 } })
      const first = yield* postResponses(session, turn("one"))
      assertCompleted(first)
      assertCompleted(yield* postResponses(session, turn("two")))

      const refused = yield* postResponses(session, turn("three"))
      const resetsAt = yield* assertUsageLimit(refused, "plus", "secondary", ONE_WEEK)
      assert.strictEqual(resetsAt, resetAt(first, "secondary"))
      assert.strictEqual(usedPercent(refused, "primary"), "2")

      yield* session.emulator.advanceClock("5 hours")
      const later = yield* signIn()
      yield* assertUsageLimit(yield* postResponses(later, turn("four")), "plus", "secondary", ONE_WEEK - FIVE_HOURS)

      yield* session.emulator.advanceClock("7 days")
      const again = yield* postResponses(yield* signIn(), turn("five"))
      assertCompleted(again)
      assert.strictEqual(usedPercent(again, "secondary"), "50")
    })
  )

  it.effect("a free account uses the free budgets: the eleventh request in 5 hours is refused", () =>
    Effect.gen(function* () {
      yield* freshSession
      const free = yield* addAccountSession({ email: "free@example.com", plan: "free" })
      for (let i = 1; i <= 10; i++) {
        const reply = yield* postResponses(free, turn(`request ${i}`))
        assertCompleted(reply)
        assert.strictEqual(usedPercent(reply, "primary"), String(i * 10))
        assert.strictEqual(usedPercent(reply, "secondary"), String(i * 2))
      }
      yield* assertUsageLimit(yield* postResponses(free, turn("eleven")), "free", "primary", FIVE_HOURS)
    })
  )

  it.effect("GET /wham/usage answers in the shape clients read: plan_type, rate_limit windows, credits", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      for (const text of ["one", "two", "three"]) assertCompleted(yield* postResponses(session, turn(text)))
      const last = yield* postResponses(session, turn("four"))
      assertCompleted(last)
      const usage = yield* get(`${session.emulator.urls.chatgptBaseUrl}/wham/usage`, session.auth)
      const now = Math.floor(DateTime.toEpochMillis(yield* session.emulator.now) / 1000)
      const window = (percent: number, seconds: number, resetsAt: number) => ({
        used_percent: percent,
        limit_window_seconds: seconds,
        reset_after_seconds: resetsAt - now,
        reset_at: resetsAt
      })
      // 4 of the plus plan's 100 (5 h) and 1,000 (weekly) requests: integer percents, as the backend's.
      assertJson(usage, 200, {
        plan_type: "plus",
        rate_limit: {
          allowed: true,
          limit_reached: false,
          primary_window: window(4, 18_000, resetAt(last, "primary")),
          secondary_window: window(0, 604_800, resetAt(last, "secondary"))
        },
        credits: { has_credits: false, unlimited: false, balance: "0" }
      })
      assertUsageHeaders(usage)
    })
  )

  it.effect("GET /wham/usage says limit_reached once a window is exhausted", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.updateAccount(session.accountId, { budget: { primary: 1, secondary: 10 } })
      assertCompleted(yield* postResponses(session, turn("one")))
      const usage = yield* get(`${session.emulator.urls.chatgptBaseUrl}/wham/usage`, session.auth)
      const body = usage.body as { rate_limit: { allowed: boolean; limit_reached: boolean; primary_window: unknown } }
      assert.isFalse(body.rate_limit.allowed)
      assert.isTrue(body.rate_limit.limit_reached)
      assert.include(body.rate_limit.primary_window, { used_percent: 100 })
    })
  )
})

const serverError = {
  error: { type: "server_error", message: "An error occurred while processing your request.", code: null }
}

emulatorLayer("POST /responses: faults", (it) => {
  it.effect("unauthorized answers 401 token_expired once, then the token works again", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "unauthorized" })
      assertJson(yield* postResponses(session, turn("hi")), 401, tokenExpired)
      assertCompleted(yield* postResponses(session, turn("hi")))
    })
  )

  it.effect("usage_limit answers 429 usage_limit_reached with the active-limit header", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "usage_limit" })
      const reply = yield* postResponses(session, turn("hi"))
      assert.strictEqual(reply.status, 429)
      const { error } = yield* Schema.decodeUnknownEffect(UsageLimitBody)(reply.body)
      assert.deepStrictEqual(reply.body, {
        error: {
          type: "usage_limit_reached",
          message: "The usage limit has been reached",
          plan_type: "plus",
          resets_at: error.resets_at,
          resets_in_seconds: error.resets_in_seconds
        }
      })
      assert.strictEqual(reply.headers.get("x-codex-active-limit"), "codex")
      assertUsageHeaders(reply)
    })
  )

  it.effect("rate_limit answers 429 with Retry-After equal to retryAfterSeconds", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "rate_limit", retryAfterSeconds: 7 })
      const reply = yield* postResponses(session, turn("hi"))
      assertJson(reply, 429, {
        error: {
          type: "rate_limit_exceeded",
          code: "rate_limit_exceeded",
          message: "Rate limit reached. Please try again in 7s."
        }
      })
      assert.strictEqual(reply.headers.get("retry-after"), "7")
      assert.isNull(reply.headers.get("x-codex-active-limit"))
    })
  )

  it.effect("rate_limit with retryAfterHeader false gives the delay only in the message", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "rate_limit", retryAfterSeconds: 0.25, retryAfterHeader: false })
      const reply = yield* postResponses(session, turn("hi"))
      assertJson(reply, 429, {
        error: {
          type: "rate_limit_exceeded",
          code: "rate_limit_exceeded",
          message: "Rate limit reached. Please try again in 0.25s."
        }
      })
      assert.isNull(reply.headers.get("retry-after"))
    })
  )

  it.effect("server_error answers 500, or the status given", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "server_error" })
      assertJson(yield* postResponses(session, turn("hi")), 500, serverError)
      yield* session.emulator.injectFault({ kind: "server_error", status: 502 })
      assertJson(yield* postResponses(session, turn("hi")), 502, serverError)
    })
  )

  it.effect("bad_gateway answers 502 with an HTML page, as a proxy in front of the backend does", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "bad_gateway" })
      const reply = yield* postResponses(session, turn("hi"))
      assert.strictEqual(reply.status, 502)
      assert.include(reply.headers.get("content-type") ?? "", "text/html")
      assert.strictEqual(reply.text, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    })
  )

  it.effect("overloaded answers 503 server_is_overloaded", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "overloaded" })
      assertJson(yield* postResponses(session, turn("hi")), 503, {
        error: {
          type: "server_error",
          code: "server_is_overloaded",
          message: "Our servers are currently overloaded. Please try again later."
        }
      })
    })
  )

  it.effect("slow_first_byte holds the response headers back for delayMs", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "slow_first_byte", delayMs: 300 })
      const slow = yield* postResponses(session, turn("hi"))
      assertCompleted(slow)
      assert.isAtLeast(slow.headersMs, 250)
    })
  )

  it.effect("stream_cut ends the body cleanly after afterEvents events, without response.completed", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "stream_cut", afterEvents: 3 })
      const reply = yield* postResponses(session, turn("a few words to stream"))
      assert.strictEqual(reply.status, 200)
      assert.deepStrictEqual(typesOf(reply.events), [
        "response.created",
        "response.in_progress",
        "response.output_item.added"
      ])
    })
  )

  it.effect("stream_cut with abort breaks the connection after afterEvents events", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "stream_cut", afterEvents: 3, abort: true })
      const error = yield* Effect.flip(postResponses(session, turn("a few words to stream")))
      assert.strictEqual(error.stage, "body", "the headers arrive, the body read rejects")
      assert.deepStrictEqual(typesOf(parseSse(error.partial)), [
        "response.created",
        "response.in_progress",
        "response.output_item.added"
      ])
      assertCompleted(yield* postResponses(session, turn("the next request is whole")))
    })
  )

  it.effect("malformed_event sends a data line that is not JSON, and the stream still completes", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const clean = assertCompleted(yield* postResponses(session, turn("some words here")))
      yield* session.emulator.injectFault({ kind: "malformed_event", afterEvents: 4 })
      const events = assertCompleted(yield* postResponses(session, turn("some words here")))
      assert.strictEqual(events.length, clean.length + 1)
      assert.deepStrictEqual(
        events.map((event) => event.data === undefined),
        events.map((_, i) => i === 4)
      )
      assert.throws(() => JSON.parse(events[4]!.raw))
    })
  )

  it.effect("idle without delayMs goes silent after afterEvents events", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "idle", afterEvents: 2 })
      const reply = yield* postResponses(session, turn("hi"), { idleMs: 500 })
      assert.strictEqual(reply.status, 200)
      assert.isTrue(reply.idled, "nothing more arrived within 500 ms")
      assert.deepStrictEqual(typesOf(reply.events), ["response.created", "response.in_progress"])
      assertCompleted(yield* postResponses(session, turn("the next request is whole")))
      // The client gave up on the silent reply: the counters tell it apart from the whole one.
      let streams = (yield* session.emulator.counters).streams
      for (let i = 0; i < 50 && streams.aborted === 0; i++) {
        yield* Effect.sleep("20 millis")
        streams = (yield* session.emulator.counters).streams
      }
      assert.deepStrictEqual(streams, { completed: 1, aborted: 1 })
    })
  )

  it.effect("idle with delayMs pauses after afterEvents events, then completes", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "idle", afterEvents: 2, delayMs: 200 })
      const started = performance.now()
      const reply = yield* postResponses(session, turn("hi"), { idleMs: 2_000 })
      assert.isFalse(reply.idled)
      assert.strictEqual(finalText(assertCompleted(reply)), "hi")
      assert.isAtLeast(performance.now() - started, 180)
    })
  )

  it.effect("response_failed context_length_exceeded fails the response inside the stream", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "response_failed", code: "context_length_exceeded" })
      const reply = yield* postResponses(session, turn("hi"))
      assert.strictEqual(reply.status, 200)
      assert.deepStrictEqual(typesOf(reply.events), ["response.created", "response.failed"])
      const failed = eventOf(reply.events, "response.failed").response!
      assert.strictEqual(failed.status, "failed")
      assert.deepStrictEqual(failed.error, {
        type: "server_error",
        code: "context_length_exceeded",
        message: "Your input exceeds the context window of this model. Please adjust your input and try again."
      })
    })
  )

  it.effect("response_failed rate_limit_exceeded says when to try again", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "response_failed", code: "rate_limit_exceeded" })
      const reply = yield* postResponses(session, turn("hi"))
      const error = eventOf(reply.events, "response.failed").response?.error
      assert.strictEqual(error?.code, "rate_limit_exceeded")
      assert.match(error?.message ?? "", /try again in \d+(\.\d+)?s/)
    })
  )

  it.effect("a fault scoped to an account hits only that account", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const other = yield* addAccountSession({ email: "other@example.com" })
      yield* session.emulator.injectFault({ kind: "server_error", account: other.accountId })
      assertCompleted(yield* postResponses(session, turn("hi")))
      assertJson(yield* postResponses(other, turn("hi")), 500, serverError)
      assertCompleted(yield* postResponses(other, turn("hi")))
      assert.strictEqual((yield* session.emulator.counters).faultsInjected, 1)
    })
  )

  it.effect("times: 2 hits exactly two requests, and counters.faultsInjected counts them", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "overloaded", times: 2 })
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) statuses.push((yield* postResponses(session, turn("hi"))).status)
      assert.deepStrictEqual(statuses, [503, 503, 200])
      assert.strictEqual((yield* session.emulator.counters).faultsInjected, 2)
    })
  )

  it.effect("a fault on another route leaves /responses alone, and clearFaults drops pending faults", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "server_error", route: "models" })
      assertCompleted(yield* postResponses(session, turn("hi")))
      const models = yield* get(`${session.emulator.urls.codexBaseUrl}/models?client_version=0.169.0`, session.auth)
      assertJson(models, 500, serverError)
      yield* session.emulator.injectFault({ kind: "server_error", times: 5 })
      yield* session.emulator.clearFaults
      assertCompleted(yield* postResponses(session, turn("hi")))
    })
  )

  it.effect("an exhausted account's 429 does not use up a stream fault; the next charged turn gets it", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.updateAccount(session.accountId, { budget: { primary: 1, secondary: 10 } })
      assertCompleted(yield* postResponses(session, turn("spend the budget")))
      yield* session.emulator.injectFault({ kind: "stream_cut", afterEvents: 1 })
      assert.strictEqual((yield* postResponses(session, turn("refused"))).status, 429)
      assert.strictEqual((yield* session.emulator.counters).faultsInjected, 0)
      yield* session.emulator.updateAccount(session.accountId, { budget: { primary: 10, secondary: 10 } })
      const cut = yield* postResponses(session, turn("cut short"))
      assert.strictEqual(cut.status, 200)
      assert.deepStrictEqual(typesOf(cut.events), ["response.created"])
    })
  )

  it.effect(
    "GET /wham/usage and /wham/accounts/check apply their faults: unauthorized, usage_limit, slow_first_byte",
    () =>
      Effect.gen(function* () {
        const session = yield* freshSession
        const { chatgptBaseUrl } = session.emulator.urls
        yield* session.emulator.injectFault({ kind: "unauthorized", route: "usage" })
        assertJson(yield* get(`${chatgptBaseUrl}/wham/usage`, session.auth), 401, tokenExpired)
        yield* session.emulator.injectFault({ kind: "usage_limit", route: "accounts_check" })
        const limited = yield* get(`${chatgptBaseUrl}/wham/accounts/check`, session.auth)
        assert.strictEqual(limited.status, 429, limited.text)
        assert.strictEqual(limited.headers.get("x-codex-active-limit"), "codex")
        yield* session.emulator.injectFault({ kind: "slow_first_byte", route: "usage", delayMs: 200 })
        const slow = yield* get(`${chatgptBaseUrl}/wham/usage`, session.auth)
        assert.strictEqual(slow.status, 200)
        assert.isAtLeast(slow.headersMs, 190)
        assert.strictEqual((yield* session.emulator.counters).faultsInjected, 3)
      })
  )
})

const ModelCatalog = Schema.Struct({
  models: Schema.Array(
    Schema.Struct({
      slug: Schema.String,
      context_window: Schema.Int,
      supported_reasoning_levels: Schema.Array(Schema.Struct({ effort: Schema.String, description: Schema.String })),
      available_in_plans: Schema.Array(Schema.String)
    })
  )
})

const modelsUrl = (session: Session) => `${session.emulator.urls.codexBaseUrl}/models?client_version=0.169.0`

emulatorLayer("GET /models (protocol §9)", (it) => {
  it.effect("answers the catalog with an ETag, and 304 to If-None-Match with it", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const reply = yield* get(modelsUrl(session), session.auth)
      assert.strictEqual(reply.status, 200, reply.text)
      const { models } = yield* Schema.decodeUnknownEffect(ModelCatalog)(reply.body)
      const slugs = models.map((model) => model.slug)
      assert.includeMembers(slugs, ["gpt-6.1-sol", "gpt-5.5"])
      assert.strictEqual(new Set(slugs).size, slugs.length)
      for (const model of models) {
        assert.isAbove(model.context_window, 0)
        assert.isNotEmpty(model.supported_reasoning_levels)
        assert.isNotEmpty(model.available_in_plans)
      }
      assert.strictEqual(models.find((model) => model.slug === "gpt-5.5")?.context_window, 272_000)

      const etag = reply.headers.get("etag")
      assert.match(etag ?? "", /^"[^"]+"$/)
      const cached = yield* get(modelsUrl(session), { ...session.auth, "if-none-match": etag! })
      assert.strictEqual(cached.status, 304)
      assert.strictEqual(cached.text, "")
      const stale = yield* get(modelsUrl(session), { ...session.auth, "if-none-match": '"stale"' })
      assert.strictEqual(stale.status, 200)
      assert.strictEqual(stale.headers.get("etag"), etag)
    })
  )

  it.effect("needs the same auth headers as /responses", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assertJson(yield* get(modelsUrl(session)), 401, missingAuthorization)
    })
  )

  it.effect("every slug of the catalog is accepted by /responses", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const { models } = yield* Schema.decodeUnknownEffect(ModelCatalog)(
        (yield* get(modelsUrl(session), session.auth)).body
      )
      for (const { slug } of models) {
        const events = assertCompleted(yield* postResponses(session, turn("hi", { model: slug })))
        assert.strictEqual(eventOf(events, "response.completed").response?.model, slug)
      }
    })
  )
})

emulatorLayer("workspace routing and the WebSocket refusal", (it) => {
  it.effect("GET /wham/accounts/check answers as the real backend: https://chatgpt.com and NO_CONSTRAINT", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const reply = yield* get(`${session.emulator.urls.chatgptBaseUrl}/wham/accounts/check`, session.auth)
      // Protocol §6.1: the origin must be a bare https origin (the real CLI fails every turn on
      // anything else); NO_CONSTRAINT is a value of account_routing_override only.
      assertJson(reply, 200, {
        accounts: [
          {
            id: session.accountId,
            workspace_backend_origin: "https://chatgpt.com",
            account_routing_override: "NO_CONSTRAINT"
          }
        ]
      })
      const unsigned = yield* get(`${session.emulator.urls.chatgptBaseUrl}/wham/accounts/check`)
      assertJson(unsigned, 401, missingAuthorization)
    })
  )

  it.effect("an account's routing sets the origin and the override it answers, or leaves the account out", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const check = () => get(`${session.emulator.urls.chatgptBaseUrl}/wham/accounts/check`, session.auth)
      yield* session.emulator.updateAccount(session.accountId, {
        routing: { origin: "https://us.chatgpt.example", override: "us_cr" }
      })
      assertJson(yield* check(), 200, {
        accounts: [
          {
            id: session.accountId,
            workspace_backend_origin: "https://us.chatgpt.example",
            account_routing_override: "us_cr"
          }
        ]
      })
      yield* session.emulator.updateAccount(session.accountId, { routing: { omit: true } })
      assertJson(yield* check(), 200, { accounts: [] })
      const routed = yield* addAccountSession({ email: "us@example.com", routing: { override: "us" } })
      assertJson(yield* get(`${session.emulator.urls.chatgptBaseUrl}/wham/accounts/check`, routed.auth), 200, {
        accounts: [
          { id: routed.accountId, workspace_backend_origin: "https://chatgpt.com", account_routing_override: "us" }
        ]
      })
    })
  )

  it.effect("a WebSocket upgrade of GET /responses is refused with 426, never 101", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const reply = yield* rawRequest("GET", `${session.emulator.urls.codexBaseUrl}/responses`, [
        ["upgrade", "websocket"],
        ["connection", "Upgrade"],
        ["sec-websocket-key", randomBytes(16).toString("base64")],
        ["sec-websocket-version", "13"],
        ["openai-beta", "responses_websockets=2026-02-06"],
        ["authorization", `Bearer ${session.accessToken}`],
        ["chatgpt-account-id", session.accountId]
      ])
      assert.isFalse(reply.upgraded)
      assert.strictEqual(reply.status, 426)
      assert.deepStrictEqual(JSON.parse(reply.text), {
        detail: "WebSocket transport is not available here; use POST with Accept: text/event-stream."
      })
      assertJson(yield* get(`${session.emulator.urls.codexBaseUrl}/responses`, session.auth), 405, {
        detail: "Method Not Allowed"
      })
      // Upgrade attempts are counted apart from the POSTs, for the token's account.
      const counters = yield* session.emulator.counters
      assert.deepStrictEqual(counters.requests.responses_websocket, {
        total: 2,
        byAccount: { [session.accountId]: 2 }
      })
      assert.isUndefined(counters.requests.responses, "no /responses POST was made")
      const recorded = yield* session.emulator.lastRequest("responses_websocket")
      assert.strictEqual(Option.getOrThrow(recorded).method, "GET")
    })
  )

  it.effect("Node's WebSocket client cannot open a socket to /responses", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const url = `${session.emulator.urls.codexBaseUrl}/responses`.replace(/^http/, "ws")
      const outcome = yield* Effect.callback<"open" | "error">((resume) => {
        const socket = new WebSocket(url)
        socket.addEventListener("open", () => resume(Effect.succeed("open")))
        socket.addEventListener("error", () => resume(Effect.succeed("error")))
        return Effect.sync(() => socket.close())
      })
      assert.strictEqual(outcome, "error")
    })
  )
})

emulatorLayer("counters and recorded requests", (it) => {
  it.effect("counters count requests per route and per account", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      const other = yield* addAccountSession({ email: "other@example.com" })
      assertCompleted(yield* postResponses(session, turn("one")))
      assertCompleted(yield* postResponses(session, turn("two")))
      assertCompleted(yield* postResponses(other, turn("three")))
      assert.strictEqual((yield* postResponses({ ...session, auth: {} }, turn("four"))).status, 401)
      assert.strictEqual((yield* get(modelsUrl(session), session.auth)).status, 200)
      const counters = yield* session.emulator.counters
      assert.deepStrictEqual(counters.requests, {
        responses: { total: 4, byAccount: { [session.accountId]: 2, [other.accountId]: 1 } },
        models: { total: 1, byAccount: { [session.accountId]: 1 } }
      })
    })
  )

  it.effect("lastRequest returns the decoded body and the headers the client sent", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      assert.isTrue(Option.isNone(yield* session.emulator.lastRequest("responses")))
      const body = turn("record me", { tools: [weatherTool] })
      const reply = yield* postResponses(session, body, {
        zstd: true,
        headers: { originator: "codex_exec", "session-id": "0198-session" }
      })
      assertCompleted(reply)
      const recorded = yield* session.emulator.lastRequest("responses")
      assert.isTrue(Option.isSome(recorded))
      const request = Option.getOrThrow(recorded)
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.path, "/backend-api/codex/responses")
      assert.deepStrictEqual(request.body, body)
      assert.strictEqual(request.headers.authorization, `Bearer ${session.accessToken}`)
      assert.strictEqual(request.headers["chatgpt-account-id"], session.accountId)
      assert.strictEqual(request.headers["content-encoding"], "zstd")
      assert.strictEqual(request.headers.originator, "codex_exec")
      assert.strictEqual(request.headers["session-id"], "0198-session")
    })
  )
})

layer(Emulator.layer({ seed: 20_261_124 }), { excludeTestServices: true })("a fault with a probability", (it) => {
  it.effect("p = 0.5 with a fixed seed hits some requests, not all, in a pattern that repeats after reset", () =>
    Effect.gen(function* () {
      const pattern = Effect.gen(function* () {
        const session = yield* freshSession
        yield* session.emulator.injectFault({ kind: "server_error", probability: 0.5 })
        const hits: Array<boolean> = []
        for (let i = 0; i < 20; i++) hits.push((yield* postResponses(session, turn(`request ${i}`))).status === 500)
        assert.strictEqual((yield* session.emulator.counters).faultsInjected, hits.filter(Boolean).length)
        return hits
      })
      const first = yield* pattern
      assert.include(first, true)
      assert.include(first, false)
      assert.deepStrictEqual(yield* pattern, first)
    })
  )
})
