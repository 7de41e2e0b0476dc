// `nexus chat` end to end: real child processes against a scratch database and the emulator.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect, Option } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { childEnv, nexus, nexusOnTerminal, tempDir, TestLive } from "./helpers.ts"
import { assertNoTokenShapes, envFromIssued, reset, signedIn } from "./session.ts"

layer(TestLive, { excludeTestServices: true, timeout: "60 seconds" })("nexus chat", (it) => {
  it.effect("chat streams the reply to the terminal, and --json prints the result with the usage windows", () =>
    Effect.gen(function* () {
      yield* reset
      const { env: tokens } = yield* envFromIssued()
      const env = { ...(yield* childEnv), ...tokens }
      assert.strictEqual((yield* nexus(["login", "--from-env", "--label", "chatty"], env)).code, 0)
      const streamed = yield* nexus(["chat", "hello from the terminal"], env)
      assert.strictEqual(streamed.code, 0, streamed.stderr)
      assert.include(streamed.stdout, "hello from the terminal")
      assert.include(streamed.stderr, "tokens in")
      const json = yield* nexus(["chat", "--json", "--model", "gpt-5.5", "as json"], env)
      assert.strictEqual(json.code, 0, json.stderr)
      const result = JSON.parse(json.stdout) as { text: string; rateLimits: Array<{ kind: string }> }
      assert.strictEqual(result.text, "as json")
      assert.includeMembers(
        result.rateLimits.map((w) => w.kind),
        ["five_hour", "weekly"]
      )
      assertNoTokenShapes(streamed)
      assertNoTokenShapes(json)
      // The windows the chat reported are the pool's: `accounts` shows them, `status` points there.
      const status = yield* nexus(["status"], env)
      assert.notInclude(status.stdout, "% used")
      assert.include(status.stdout, "`nexus accounts`")
      const pool = yield* nexus(["accounts"], env)
      assert.strictEqual(pool.code, 0, pool.stderr)
      assert.include(pool.stdout, "chatty")
      assert.match(pool.stdout, /5-hour\s+\d+(\.\d+)?% used, resets in/)
      assert.match(pool.stdout, /weekly\s+\d+(\.\d+)?% used/)
      const models = yield* nexus(["models"], env)
      assert.strictEqual(models.code, 0, models.stderr)
      assert.include(models.stdout, "gpt-5.5")
      assert.include(models.stdout, "Legacy coding model")
    })
  )

  it.effect(
    "chat on a terminal shows why it waits while it retries, in human units, then erases the line; piped, it shows nothing of it",
    () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "server_error", times: 2 })
        const shown = yield* nexusOnTerminal(["chat", "after two failures"], env)
        assert.strictEqual(shown.code, 0, shown.stdout)
        assert.match(shown.stdout, /retrying in \d+ s \(attempt 2 of 6\): The Codex backend is unavailable/)
        assert.match(shown.stdout, /retrying in \d+ s \(attempt 3 of 6\)/)
        // The line is erased before the reply, which then starts at the beginning of the line.
        assert.include(shown.stdout, "\r\x1b[2Kafter two failures")
        yield* emulator.injectFault({ kind: "server_error", times: 1 })
        const piped = yield* nexus(["chat", "after one failure"], env)
        assert.strictEqual(piped.code, 0, piped.stderr)
        assert.strictEqual(piped.stdout, "after one failure\n")
        assert.notInclude(piped.stderr, "retrying")
      })
  )

  it.effect(
    "chat: a seed's model name, --system, --effort and --no-stream; an unknown model is refused before sending",
    () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        const emulator = yield* Emulator.Emulator
        const aliased = yield* nexus(
          ["chat", "--json", "--model", "o1", "--system", "be terse", "--effort", "high", "aliased"],
          env
        )
        assert.strictEqual(aliased.code, 0, aliased.stderr)
        assert.strictEqual((JSON.parse(aliased.stdout) as { model: string }).model, "gpt-5.5")
        const body = Option.getOrThrow(yield* emulator.lastRequest("responses")).body as {
          model: string
          input: Array<{ role: string }>
          reasoning: unknown
        }
        assert.strictEqual(body.model, "gpt-5.5")
        assert.strictEqual(body.input[0]!.role, "developer")
        assert.deepStrictEqual(body.reasoning, { effort: "high" })
        const whole = yield* nexus(["chat", "--no-stream", "all at once"], env)
        assert.strictEqual(whole.code, 0, whole.stderr)
        assert.strictEqual(whole.stdout.trim(), "all at once")
        const before = (yield* emulator.counters).requests.responses?.total ?? 0
        const unknown = yield* nexus(["chat", "--model", "gpt-2", "hello?"], env)
        assert.notStrictEqual(unknown.code, 0)
        assert.include(unknown.stderr, 'Unknown model "gpt-2"')
        assert.include(unknown.stderr, "gpt-5.5")
        assert.strictEqual((yield* emulator.counters).requests.responses?.total ?? 0, before)
      })
  )

  it.effect(
    "chat reads the prompt from stdin (-) or --file, refuses an empty one before sending, takes the catalog's efforts, and ends its output with a newline",
    () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        const emulator = yield* Emulator.Emulator
        const sent = Effect.map(emulator.counters, (counters) => counters.requests.responses?.total ?? 0)

        const piped = yield* nexus(["chat", "-"], env, "from the pipe")
        assert.strictEqual(piped.code, 0, piped.stderr)
        assert.strictEqual(piped.stdout, "from the pipe\n")
        assert.match(piped.stderr, /\(gpt-[\d.a-z-]+ on [^:]+: \d+ tokens in, \d+ out\)/)

        const dir = tempDir("nexus-cli-chat-")
        writeFileSync(join(dir, "prompt.md"), "from the file")
        const filed = yield* nexus(["chat", "--no-stream", "--file", join(dir, "prompt.md")], env)
        assert.strictEqual(filed.code, 0, filed.stderr)
        assert.strictEqual(filed.stdout, "from the file\n")
        assert.match(filed.stderr, /\(gpt-[\d.a-z-]+ on [^:]+: \d+ tokens in, \d+ out\)/)

        const before = yield* sent
        for (const [args, input] of [
          [["chat", ""], undefined],
          [["chat", "-"], "  \n"],
          [["chat"], undefined]
        ] as const) {
          const refused = yield* nexus(args, env, input)
          assert.strictEqual(refused.code, 2, refused.stderr)
          assert.match(refused.stderr, /the prompt is empty|say what to ask/)
          assert.strictEqual(refused.stdout, "")
        }
        assert.strictEqual(yield* sent, before)

        const maxed = yield* nexus(["chat", "--model", "gpt-6.1-sol", "--effort", "max", "think hard"], env)
        assert.strictEqual(maxed.code, 0, maxed.stderr)
        const body = Option.getOrThrow(yield* emulator.lastRequest("responses")).body as { reasoning: unknown }
        assert.deepStrictEqual(body.reasoning, { effort: "max" })
      }).pipe(Effect.scoped)
  )
})
