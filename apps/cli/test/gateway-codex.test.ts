// The real Codex CLI 0.169.0 as a client of `nexus serve`: a custom model provider that speaks the
// Responses API (`wire_api = "responses"`) with a gateway key, as the README tells users to set it
// up. A plain turn, and a tool round trip (the CLI runs exec_command and sends its output back).
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Ports } from "@nexus/testing"
import { Effect, Layer, Option } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { CodexCli } from "../../../packages/codex-emulator/test/codexCli.ts"
import { createKey, serve } from "./gatewayHelpers.ts"
import { tempDir, TestLive } from "./helpers.ts"
import { signedIn } from "./session.ts"

/** A CODEX_HOME whose model provider is the gateway at `baseUrl`, its key read from NEXUS_API_KEY. */
const codexHome = (baseUrl: string) => {
  const dir = tempDir("nexus-codex-gateway-")
  mkdirSync(join(dir, "work"))
  writeFileSync(
    join(dir, "config.toml"),
    [
      'model = "gpt-5.5"',
      'model_provider = "nexus"',
      "",
      "[model_providers.nexus]",
      'name = "Nexus"',
      `base_url = "${baseUrl}"`,
      'wire_api = "responses"',
      'env_key = "NEXUS_API_KEY"',
      ""
    ].join("\n")
  )
  return dir
}

/** One `codex exec` turn in `home`, only loopback reachable. */
const codexExec = (bin: string, home: string, key: string, prompt: string) =>
  Effect.gen(function* () {
    const closed = yield* Effect.promise(() => Ports.freePort())
    return yield* Effect.callback<{ readonly code: number | null; readonly stdout: string; readonly output: string }>(
      (resume) => {
        const proxy = `http://127.0.0.1:${closed}`
        const child = spawn(bin, ["exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt], {
          cwd: join(home, "work"),
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: home,
            CODEX_HOME: home,
            NEXUS_API_KEY: key,
            HTTP_PROXY: proxy,
            HTTPS_PROXY: proxy,
            http_proxy: proxy,
            https_proxy: proxy,
            NO_PROXY: "127.0.0.1,localhost",
            no_proxy: "127.0.0.1,localhost",
            NO_COLOR: "1",
            TERM: "dumb"
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
        const timer = setTimeout(() => child.kill("SIGKILL"), 90_000)
        child.once("close", (code) => {
          clearTimeout(timer)
          resume(Effect.succeed({ code, stdout, output: `${stdout}\n${stderr}` }))
        })
        return Effect.sync(() => {
          clearTimeout(timer)
          child.kill("SIGKILL")
        })
      }
    )
  })

layer(Layer.merge(TestLive, CodexCli.layer), { excludeTestServices: true, timeout: "300 seconds" })(
  "the Codex CLI against nexus serve",
  (it) => {
    it.effect("a plain turn and a classic tool round trip, through the router to the backend", () =>
      Effect.gen(function* () {
        const env = yield* signedIn
        const cli = yield* CodexCli
        const emulator = yield* Emulator.Emulator
        const { key } = yield* createKey(env, "codex")
        const { running, baseURL } = yield* serve(env)
        const home = codexHome(baseURL)

        const plain = yield* codexExec(cli.bin, home, key, "hello from the codex cli through nexus")
        assert.strictEqual(plain.code, 0, plain.output)
        assert.include(plain.stdout, "hello from the codex cli through nexus")

        const marker = `mark-${Date.now()}`
        const tool = yield* codexExec(cli.bin, home, key, `call exec_command with {"cmd":"echo ${marker}"}`)
        assert.strictEqual(tool.code, 0, tool.output)
        assert.include(tool.stdout, "exec_command returned:")
        // The follow-up the CLI sent through the gateway reached the backend with the tool's output.
        const last = Option.getOrThrow(yield* emulator.lastRequest("responses"))
        const input = (last.body as { input: ReadonlyArray<Record<string, unknown>> }).input
        const output = input.find((item) => item.type === "function_call_output")
        assert.include(String(output?.output), marker)
        assert.notInclude(running.stderr(), key)
      }).pipe(Effect.scoped)
    )
  }
)
