// The `nexus-emulator` binary as a child process: the one JSON line it prints, its flags, --help, and a
// prompt exit on SIGTERM. The child is killed in a finalizer whatever the test does.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { get, send, turn } from "./backendHelpers.ts"

const packageDir = fileURLToPath(new URL("..", import.meta.url))

/** The binary failed to start or to stop as expected. */
class BinaryFailed extends Schema.TaggedError<BinaryFailed>()("BinaryFailed", {
  reason: Schema.String,
  stderr: Schema.String
}) {
  override get message() {
    return `nexus-emulator ${this.reason}; stderr: ${this.stderr}`
  }
}

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<Exit>
}

/** Starts `node src/bin.ts ...args` from the package directory, killed when the scope closes. */
const start = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const child = spawn(process.execPath, ["src/bin.ts", ...args], {
        cwd: packageDir,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
      return { child, stdout: () => stdout, stderr: () => stderr, exited }
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      })
  )

/** Waits for the child to exit, at most `seconds`. */
const exitOf = (running: Running, seconds: number) =>
  Effect.promise(() => running.exited).pipe(
    Effect.timeoutOrElse({
      duration: `${seconds} seconds`,
      orElse: () =>
        Effect.fail(new BinaryFailed({ reason: `did not exit within ${seconds} s`, stderr: running.stderr() }))
    })
  )

const Urls = Schema.Struct({
  issuer: Schema.String,
  chatgptBaseUrl: Schema.String,
  codexBaseUrl: Schema.String,
  adminUrl: Schema.String
})

/** Starts the binary and reads the JSON line of URLs it prints once it listens. */
const serve = Effect.fnUntraced(function* (...args: ReadonlyArray<string>) {
  const running = yield* start(["--port", "0", ...args])
  const line = yield* Effect.callback<string, BinaryFailed>((resume) => {
    const check = () => {
      const end = running.stdout().indexOf("\n")
      if (end >= 0) resume(Effect.succeed(running.stdout().slice(0, end)))
    }
    const exited = () =>
      resume(Effect.fail(new BinaryFailed({ reason: "exited before listening", stderr: running.stderr() })))
    running.child.stdout!.on("data", check)
    running.child.once("exit", exited)
    check()
    return Effect.sync(() => {
      running.child.stdout!.off("data", check)
      running.child.off("exit", exited)
    })
  }).pipe(
    Effect.timeoutOrElse({
      duration: "20 seconds",
      orElse: () => Effect.fail(new BinaryFailed({ reason: "printed no URLs within 20 s", stderr: running.stderr() }))
    })
  )
  const json: unknown = JSON.parse(line)
  const urls = yield* Schema.decodeUnknownEffect(Urls)(json, { onExcessProperty: "error" })
  return { running, urls }
})

/** Mints tokens for the binary's login account through the admin API. */
const adminTokens = Effect.fnUntraced(function* (adminUrl: string) {
  const state = yield* get(`${adminUrl}/state`)
  const { settings } = yield* Schema.decodeUnknownEffect(
    Schema.Struct({ settings: Schema.Struct({ loginAccount: Schema.String }) })
  )(state.body)
  const minted = yield* send(`${adminUrl}/accounts/${settings.loginAccount}/tokens`, { method: "POST" })
  assert.strictEqual(minted.status, 200, minted.text)
  const tokens = yield* Schema.decodeUnknownEffect(
    Schema.Struct({ access_token: Schema.String, expires_in: Schema.Finite })
  )(minted.body)
  return {
    ...tokens,
    auth: { authorization: `Bearer ${tokens.access_token}`, "chatgpt-account-id": settings.loginAccount }
  }
})

const postTurn = (codexBaseUrl: string, auth: Record<string, string>, body: unknown) =>
  send(`${codexBaseUrl}/responses`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...auth },
    body: JSON.stringify(body)
  })

describe("nexus-emulator", () => {
  it.live("--port 0 prints exactly one JSON line of URLs on stdout, how to use it on stderr, and the URLs answer", () =>
    Effect.gen(function* () {
      const { running, urls } = yield* serve()
      const origin = new URL(urls.issuer).origin
      assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.deepStrictEqual(urls, {
        issuer: origin,
        chatgptBaseUrl: `${origin}/backend-api`,
        codexBaseUrl: `${origin}/backend-api/codex`,
        adminUrl: `${origin}/__admin`
      })

      const state = yield* get(`${urls.adminUrl}/state`)
      assert.strictEqual(state.status, 200, state.text)
      const token = yield* send(`${urls.issuer}/oauth/token`, { method: "POST" })
      assert.strictEqual(token.status, 400, token.text)
      assert.deepStrictEqual(token.body, {
        error: "unsupported_grant_type",
        error_description: 'grant_type "" is not supported.'
      })
      const { auth } = yield* adminTokens(urls.adminUrl)
      const turned = yield* postTurn(urls.codexBaseUrl, auth, turn("hello from a child process"))
      assert.strictEqual(turned.status, 200, turned.text)
      assert.strictEqual(turned.events.at(-1)?.data?.type, "response.completed")

      assert.deepStrictEqual(running.stdout().split("\n"), [JSON.stringify(urls), ""], "one line, nothing else")
      // A person reads stderr: how to stop it, and the two variables that point the CLI at it.
      assert.include(running.stderr(), "stop it with Ctrl+C")
      assert.include(running.stderr(), `export CODEX_ISSUER=${urls.issuer} CODEX_BASE_URL=${urls.codexBaseUrl}`)
    })
  )

  it.live("--approval interactive makes /oauth/authorize answer with the Approve / Deny page", () =>
    Effect.gen(function* () {
      const { urls } = yield* serve("--approval", "interactive")
      const authorize = new URL("/oauth/authorize", urls.issuer)
      for (const [name, value] of Object.entries({
        response_type: "code",
        client_id: "app_EMoamEEZ73f0CkXaXp7hrann",
        redirect_uri: "http://localhost:1455/auth/callback",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
        scope: "openid profile email offline_access",
        state: "state-from-the-test"
      }))
        authorize.searchParams.set(name, value)
      const page = yield* get(authorize.toString())
      assert.strictEqual(page.status, 200, page.text)
      assert.include(page.headers.get("content-type") ?? "", "text/html")
      assert.include(page.text, 'id="approve"')
      assert.include(page.text, 'id="deny"')
    })
  )

  it.live("--require-instructions demands instructions on /responses, and --token-lifetime sets expires_in", () =>
    Effect.gen(function* () {
      const { urls } = yield* serve("--require-instructions", "--token-lifetime", "900")
      const { auth, expires_in } = yield* adminTokens(urls.adminUrl)
      assert.strictEqual(expires_in, 900)
      const { instructions: _, ...withoutInstructions } = turn("hi")
      const refused = yield* postTurn(urls.codexBaseUrl, auth, withoutInstructions)
      assert.strictEqual(refused.status, 400, refused.text)
      assert.deepStrictEqual(refused.body, { detail: "Instructions are required" })
      const accepted = yield* postTurn(urls.codexBaseUrl, auth, turn("hi"))
      assert.strictEqual(accepted.status, 200, accepted.text)
    })
  )

  it.live("--token-lifetime inside the 300 s refresh window is refused with why, exit 1", () =>
    Effect.gen(function* () {
      const running = yield* start(["--port", "0", "--token-lifetime", "120"])
      const exit = yield* exitOf(running, 20)
      assert.deepStrictEqual(exit, { code: 1, signal: null })
      const output = running.stdout() + running.stderr()
      assert.include(output, "InvalidSettings: The emulator refuses these settings: an access-token lifetime of 120 s")
      assert.include(output, "clients would refresh in a loop")
      assert.include(output, "--allow-short-token-lifetime")
      assert.notInclude(output, "adminUrl", "no URLs: it never listened")
    })
  )

  it.live("--allow-short-token-lifetime opts in to a lifetime inside the refresh window", () =>
    Effect.gen(function* () {
      const { urls } = yield* serve("--token-lifetime", "120", "--allow-short-token-lifetime")
      const { expires_in } = yield* adminTokens(urls.adminUrl)
      assert.strictEqual(expires_in, 120)
    })
  )

  it.live("--client-id replaces the client id the issuer accepts", () =>
    Effect.gen(function* () {
      const { urls } = yield* serve("--client-id", "app_nexus_custom")
      const userCode = (clientId: string) =>
        send(`${urls.issuer}/api/accounts/deviceauth/usercode`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_id: clientId })
        })
      const custom = yield* userCode("app_nexus_custom")
      assert.strictEqual(custom.status, 200, custom.text)
      const codex = yield* userCode("app_EMoamEEZ73f0CkXaXp7hrann")
      assert.strictEqual(codex.status, 400, codex.text)
      assert.deepStrictEqual(codex.body, { error: "invalid_client", error_description: "Unknown client_id." })
    })
  )

  it.live("--host with an address that is not loopback is refused with a clear error and exit 1", () =>
    Effect.gen(function* () {
      const running = yield* start(["--port", "0", "--host", "0.0.0.0"])
      const exit = yield* exitOf(running, 20)
      assert.deepStrictEqual(exit, { code: 1, signal: null })
      // Effect's error report (on stdout, as runMain logs it) names the host and why.
      const output = running.stdout() + running.stderr()
      assert.include(
        output,
        "NonLoopbackHost: The emulator listens on loopback only (127.0.0.0/8, ::1 or localhost), not 0.0.0.0: its admin API mints tokens and returns recorded secrets."
      )
      assert.notInclude(output, "adminUrl", "no URLs: it never listened")
    })
  )

  it.live("SIGTERM makes it exit promptly", () =>
    Effect.gen(function* () {
      const { running, urls } = yield* serve()
      const started = performance.now()
      running.child.kill("SIGTERM")
      const exit = yield* exitOf(running, 5)
      assert.isTrue(exit.code === 0 || exit.signal === "SIGTERM", `exited with ${JSON.stringify(exit)}`)
      assert.isBelow(performance.now() - started, 5_000)
      const after = yield* Effect.flip(get(`${urls.adminUrl}/state`))
      assert.strictEqual(after.stage, "headers", "nothing listens on the port any more")
    })
  )

  it.live("--help prints the usage and exits 0", () =>
    Effect.gen(function* () {
      const running = yield* start(["--help"])
      const exit = yield* exitOf(running, 20)
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      for (const text of [
        "nexus-emulator",
        "--port",
        "--approval",
        "--require-instructions",
        "--token-lifetime",
        "--allow-short-token-lifetime",
        "--client-id"
      ])
        assert.include(running.stdout(), text)
    })
  )
})
