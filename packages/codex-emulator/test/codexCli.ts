// The real OpenAI Codex CLI as the emulator's judge: installed on demand into a cache directory outside
// the workspace (it is ~400 MB, never a workspace dependency), pointed at an emulator through a
// CODEX_HOME the test writes (protocol §10), and run as a child process with loopback traffic only.
import { Context, Effect, Layer, Schema, type Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { Npm, Ports } from "@nexus/testing"
import type { Emulator } from "../src/Emulator.ts"

/** The CLI version whose wire protocol shared/protocol.md records. */
export const CODEX_CLI_VERSION = "0.169.0"

/** The real CLI could not be installed or run: the conformance test fails with this, never skips. */
export class CodexCliUnavailable extends Schema.TaggedError<CodexCliUnavailable>()("CodexCliUnavailable", {
  reason: Schema.String
}) {
  override get message() {
    return `The real Codex CLI ${CODEX_CLI_VERSION} is not available: ${this.reason}. The conformance test installs @openai/codex@${CODEX_CLI_VERSION} with npm from the npm registry into ${cacheRoot()}; set NEXUS_CODEX_CLI_CACHE to use another directory.`
  }
}

/** Where installed CLIs are kept: `$NEXUS_CODEX_CLI_CACHE`, else `$XDG_CACHE_HOME/nexus/codex-cli`. */
export const cacheRoot = () =>
  process.env.NEXUS_CODEX_CLI_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "nexus/codex-cli")

const run = (file: string, args: ReadonlyArray<string>, timeoutMs: number, env?: NodeJS.ProcessEnv) =>
  Effect.callback<{ readonly stdout: string; readonly stderr: string }, CodexCliUnavailable>((resume) => {
    const options = { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, ...(env ? { env } : {}) }
    const child = execFile(file, args, options, (error, stdout, stderr) =>
      resume(
        error
          ? Effect.fail(
              new CodexCliUnavailable({
                reason: `\`${file} ${args.join(" ")}\` failed (${error.message.split("\n")[0]}): ${stderr.trim().slice(-2_000)}`
              })
            )
          : Effect.succeed({ stdout, stderr })
      )
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/**
 * The CLI's binary, installed into the cache first when it is not there yet. A partial install never
 * counts: npm installs into a fresh directory that is renamed into place once it has succeeded.
 */
const install = Effect.gen(function* () {
  const dir = join(cacheRoot(), CODEX_CLI_VERSION)
  const bin = join(dir, "node_modules", ".bin", "codex")
  if (!existsSync(bin)) {
    yield* Effect.try({
      try: () => mkdirSync(cacheRoot(), { recursive: true }),
      catch: (error) => new CodexCliUnavailable({ reason: `cannot create ${cacheRoot()}: ${String(error)}` })
    })
    const staging = mkdtempSync(join(cacheRoot(), `.install-${CODEX_CLI_VERSION}-`))
    yield* Effect.ensuring(
      Effect.gen(function* () {
        yield* run(
          "npm",
          [
            "install",
            "--prefix",
            staging,
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            `@openai/codex@${CODEX_CLI_VERSION}`
          ],
          8 * 60_000,
          { ...process.env, ...Npm.machineConfig() }
        )
        // Another test run may have finished the same install first: its copy is as good as ours.
        if (!existsSync(bin)) renameSync(staging, dir)
      }),
      Effect.sync(() => rmSync(staging, { recursive: true, force: true }))
    )
  }
  const { stdout } = yield* run(bin, ["--version"], 60_000)
  if (!stdout.includes(CODEX_CLI_VERSION))
    return yield* new CodexCliUnavailable({ reason: `${bin} --version printed ${JSON.stringify(stdout.trim())}` })
  return bin
})

/** How one `codex` run ended. */
export interface CodexRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** stdout and stderr together, for messages the CLI prints on either. */
  readonly output: string
  readonly ms: number
}

/** A CODEX_HOME pointed at an emulator, with an auth.json of tokens the emulator issued. */
export interface CodexHome {
  readonly dir: string
  readonly workdir: string
  readonly auth: () => AuthJson
}

/** The auth.json the CLI reads and rewrites (protocol §4). */
export interface AuthJson {
  readonly auth_mode: string
  readonly OPENAI_API_KEY: string | null
  readonly tokens: {
    readonly id_token: string
    readonly access_token: string
    readonly refresh_token: string
    readonly account_id: string | null
  }
  readonly last_refresh: string
}

/**
 * The real CLI, installed and ready: `home` writes a CODEX_HOME for an emulator, `exec` runs one
 * `codex exec` turn in it.
 */
export class CodexCli extends Context.Service<
  CodexCli,
  {
    readonly bin: string
    readonly home: (
      emulator: Emulator["Service"],
      options?: {
        readonly model?: string
        readonly account?: string
        /** Rewrites the access token before it is written, e.g. to tamper with its signature. */
        readonly accessToken?: (token: string) => string
      }
    ) => Effect.Effect<CodexHome, never, Scope.Scope>
    readonly exec: (
      home: CodexHome,
      prompt: string,
      options?: { readonly timeoutMs?: number }
    ) => Effect.Effect<CodexRun>
  }
>()("@nexus/codex-emulator/test/CodexCli") {
  static readonly layer = Layer.effect(
    CodexCli,
    Effect.gen(function* () {
      const bin = yield* install
      // A loopback port nobody listens on: any request the CLI would send elsewhere than the emulator
      // (through the proxy that every non-loopback URL must take) is refused.
      const closedPort = yield* Effect.promise(() => Ports.freePort())
      const urlsOf = new WeakMap<CodexHome, Emulator["Service"]["urls"]>()

      const home = Effect.fnUntraced(function* (
        emulator: Emulator["Service"],
        options: {
          readonly model?: string
          readonly account?: string
          readonly accessToken?: (token: string) => string
        } = {}
      ) {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "nexus-codex-home-"))),
          (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
        )
        const workdir = join(dir, "work")
        mkdirSync(workdir)
        const tokens = yield* Effect.orDie(emulator.issueTokens(options.account))
        const accountId = options.account ?? (yield* emulator.settings).loginAccount
        const { origin } = new URL(emulator.urls.issuer)
        const port = new URL(origin).port
        // Two origins (localhost for the ChatGPT base, 127.0.0.1 for the model provider), as the recipe
        // of protocol §10: the workspace origin /wham/accounts/check names is validated, not applied.
        const config = [
          `chatgpt_base_url = "http://localhost:${port}/backend-api/"`,
          `openai_base_url = "${emulator.urls.codexBaseUrl}"`,
          ...(options.model === undefined ? [] : [`model = "${options.model}"`])
        ]
        writeFileSync(join(dir, "config.toml"), `${config.join("\n")}\n`)
        const auth: AuthJson = {
          auth_mode: "chatgpt",
          OPENAI_API_KEY: null,
          tokens: {
            id_token: tokens.id_token,
            access_token: options.accessToken ? options.accessToken(tokens.access_token) : tokens.access_token,
            refresh_token: tokens.refresh_token,
            account_id: accountId
          },
          last_refresh: new Date().toISOString()
        }
        writeFileSync(join(dir, "auth.json"), JSON.stringify(auth, null, 2), { mode: 0o600 })
        const made: CodexHome = {
          dir,
          workdir,
          auth: () => JSON.parse(readFileSync(join(dir, "auth.json"), "utf8")) as AuthJson
        }
        urlsOf.set(made, emulator.urls)
        return made
      })

      const exec = (made: CodexHome, prompt: string, options: { readonly timeoutMs?: number } = {}) =>
        Effect.callback<CodexRun>((resume) => {
          const urls = urlsOf.get(made)!
          const started = performance.now()
          // Only what the CLI needs: no API keys or proxies of this machine leak into the run.
          const env: Record<string, string> = {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: made.dir,
            CODEX_HOME: made.dir,
            CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${urls.issuer}/oauth/token`,
            CODEX_REVOKE_TOKEN_URL_OVERRIDE: `${urls.issuer}/oauth/revoke`,
            HTTP_PROXY: `http://127.0.0.1:${closedPort}`,
            HTTPS_PROXY: `http://127.0.0.1:${closedPort}`,
            http_proxy: `http://127.0.0.1:${closedPort}`,
            https_proxy: `http://127.0.0.1:${closedPort}`,
            NO_PROXY: "127.0.0.1,localhost",
            no_proxy: "127.0.0.1,localhost",
            NO_COLOR: "1",
            TERM: "dumb"
          }
          const child = spawn(bin, ["exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt], {
            cwd: made.workdir,
            env,
            stdio: ["ignore", "pipe", "pipe"]
          })
          let stdout = ""
          let stderr = ""
          child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
          child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
          const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 90_000)
          child.once("close", (code) => {
            clearTimeout(timer)
            resume(
              Effect.succeed({ code, stdout, stderr, output: `${stdout}\n${stderr}`, ms: performance.now() - started })
            )
          })
          return Effect.sync(() => {
            clearTimeout(timer)
            child.kill("SIGKILL")
          })
        })

      return CodexCli.of({ bin, home, exec })
    })
  )
}

/**
 * The model catalog the CLI bundles: pretty-printed JSON embedded in its binary, the reference for
 * the emulator's `/codex/models` schema. Found as the object whose first key is `"models"` and read
 * to its matching brace.
 */
export const bundledCatalog = (bin: string): { readonly models: ReadonlyArray<Record<string, unknown>> } => {
  const [pkg, triple] =
    process.arch === "arm64"
      ? ["codex-linux-arm64", "aarch64-unknown-linux-musl"]
      : ["codex-linux-x64", "x86_64-unknown-linux-musl"]
  const binary = readFileSync(join(bin, "..", "..", "@openai", pkg, "vendor", triple, "bin", "codex"))
  const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09
  for (let at = binary.indexOf('"models"'); at >= 0; at = binary.indexOf('"models"', at + 1)) {
    let before = at - 1
    while (before >= 0 && isSpace(binary[before]!)) before--
    let after = at + 8
    while (isSpace(binary[after]!)) after++
    if (binary[before] !== 0x7b || binary[after] !== 0x3a) continue
    after++
    while (isSpace(binary[after]!)) after++
    if (binary[after] !== 0x5b) continue
    const end = closingBrace(binary, before)
    if (end !== undefined) return JSON.parse(binary.subarray(before, end + 1).toString("utf8"))
  }
  throw new Error("the Codex binary holds no bundled catalog")
}

/** The index of the brace that closes the JSON object opening at `start`. */
const closingBrace = (bytes: Buffer, start: number): number | undefined => {
  let depth = 0
  let inString = false
  for (let i = start; i < bytes.length; i++) {
    const byte = bytes[i]!
    if (inString) {
      if (byte === 0x5c) i++
      else if (byte === 0x22) inString = false
    } else if (byte === 0x22) inString = true
    else if (byte === 0x7b || byte === 0x5b) depth++
    else if (byte === 0x7d || byte === 0x5d) {
      depth--
      if (depth === 0) return i
    }
  }
  return undefined
}
