// Runs the real `nexus` binary as a child process (node apps/cli/dist/nexus.mjs …, the bundle
// test/bundle.setup.ts builds before the run) against a scratch database and the emulator.
import { Emulator } from "@nexus/codex-emulator"
import { Ports, TestDatabase } from "@nexus/testing"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { afterAll } from "vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The `nexus` binary as it ships. */
export const BIN = new URL("../dist/nexus.mjs", import.meta.url).pathname

/** A fixed key, so that the test can read what the children stored. */
export const TEST_KEY = Buffer.alloc(32, 9).toString("base64")

const callbackPort = await Ports.freePort()

/** The redirect URI the children use; registered with the emulator. */
export const REDIRECT_URI = `http://localhost:${callbackPort}/auth/callback`

/** A scratch database (not migrated: `nexus db migrate` does that) and an emulator. */
export const TestLive = Layer.mergeAll(TestDatabase.layer(), Emulator.Emulator.layer({ redirectUris: [REDIRECT_URI] }))

/** Variables that would leak the developer's own sign-in or settings into a child. */
const SCRUBBED = [
  "DATABASE_URL",
  "NEXUS_DB_HOST",
  "NEXUS_DB_PORT",
  "NEXUS_DB_NAME",
  "NEXUS_DB_USER",
  "NEXUS_DB_PASSWORD",
  "NEXUS_TOKEN_KEY",
  "NEXUS_TOKEN_KEY_PREVIOUS",
  "NEXUS_TOKEN_FILE",
  "NEXUS_LOG_LEVEL",
  "NEXUS_EMBEDDED_DB",
  "CODEX_HOME",
  "CODEX_ISSUER",
  "CODEX_BASE_URL",
  "CODEX_CLIENT_ID",
  "CODEX_CLIENT_SECRET",
  "CODEX_REDIRECT_URI",
  "CODEX_ACCESS_TOKEN",
  "CODEX_REFRESH_TOKEN",
  "CODEX_EXPIRES_AT",
  "CODEX_ACCOUNT_ID"
]

export type Env = Record<string, string | undefined>

const made: Array<string> = []

/** A temporary directory, removed when the test file ends (with everything the children wrote in it). */
export const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** The environment of a child: the scratch database, the emulator, a key and a temp data dir. */
export const childEnv = Effect.gen(function* () {
  const database = yield* TestDatabase.TestDatabase
  const emulator = yield* Emulator.Emulator
  const base: Env = { ...process.env }
  for (const name of SCRUBBED) delete base[name]
  const dataDir = tempDir("nexus-cli-test-")
  return {
    ...base,
    DATABASE_URL: database.url,
    CODEX_ISSUER: emulator.urls.issuer,
    CODEX_BASE_URL: emulator.urls.codexBaseUrl,
    CODEX_REDIRECT_URI: REDIRECT_URI,
    NEXUS_TOKEN_KEY: TEST_KEY,
    NEXUS_DATA_DIR: dataDir,
    // Never the machine's ~/.codex/tokens.json: the chain would copy it in.
    NEXUS_TOKEN_FILE: join(dataDir, "tokens.json"),
    NO_COLOR: "1"
  } satisfies Env
})

/** What a finished child left behind. */
export interface Outcome {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A running child, whose output can be awaited line by line. */
export interface Running {
  readonly child: ChildProcess
  /** Resolves with the first match of `pattern` in stdout (so far or later). */
  readonly waitFor: (pattern: RegExp) => Promise<RegExpMatchArray>
  /** Resolves with the first match of `pattern` in stderr, where the logs go (so far or later). */
  readonly waitForLog: (pattern: RegExp) => Promise<RegExpMatchArray>
  /** What the child wrote on stderr so far. */
  readonly stderr: () => string
  readonly done: Promise<Outcome>
}

/** Starts `nexus args…` (with `input` on stdin); the child is killed if it is still running after `timeoutMs`. */
export const start = (args: ReadonlyArray<string>, env: Env, timeoutMs = 25_000, input?: string): Running =>
  startBin(BIN, args, env, timeoutMs, input)

/** Starts the executable script `bin` with `args`, as `start` does `nexus`. */
export const startBin = (
  bin: string,
  args: ReadonlyArray<string>,
  env: Env,
  timeoutMs = 25_000,
  input?: string
): Running => {
  const child = spawn(process.execPath, [bin, ...args], {
    env,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"]
  })
  if (input !== undefined) child.stdin!.end(input)
  let stdout = ""
  let stderr = ""
  const listeners = new Set<() => void>()
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    for (const listener of listeners) listener()
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
    for (const listener of listeners) listener()
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  const done = new Promise<Outcome>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer)
      for (const listener of listeners) listener()
      resolve({ code, stdout, stderr })
    })
  })
  const waitIn = (stream: () => string) => (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = stream().match(pattern)
        if (match) {
          listeners.delete(check)
          resolve(match)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          listeners.delete(check)
          reject(new Error(`nexus ${args.join(" ")} ended without printing ${pattern}:\n${stdout}\n${stderr}`))
        }
      }
      listeners.add(check)
      check()
    })
  return {
    child,
    waitFor: waitIn(() => stdout),
    waitForLog: waitIn(() => stderr),
    stderr: () => stderr,
    done
  }
}

/** Runs `nexus args…` to the end, with `input` on stdin if given. */
export const nexus = (args: ReadonlyArray<string>, env: Env, input?: string) =>
  Effect.promise(() => start(args, env, 25_000, input).done)

/** A word for `sh -c`: single-quoted, its own single quotes escaped. */
const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

/**
 * Runs `nexus args…` on a terminal: under util-linux `script`, which gives the child a
 * pseudo-terminal, so `isTTY` holds as for a person. What the terminal showed (stdout and stderr
 * together, control sequences included) is `stdout`.
 */
export const nexusOnTerminal = (args: ReadonlyArray<string>, env: Env) =>
  Effect.promise(
    () =>
      new Promise<Outcome>((resolve) => {
        const command = [process.execPath, BIN, ...args].map(quote).join(" ")
        const child = spawn("script", ["-qec", command, "/dev/null"], { env, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
        const timer = setTimeout(() => child.kill("SIGKILL"), 25_000)
        child.on("close", (code) => {
          clearTimeout(timer)
          resolve({ code, stdout, stderr })
        })
      })
  )

/** The environment without the CODEX_* sign-in (which the store would otherwise copy in again). */
export const withoutSeed = (env: Env): Env => ({
  ...env,
  CODEX_ACCESS_TOKEN: undefined,
  CODEX_REFRESH_TOKEN: undefined,
  CODEX_EXPIRES_AT: undefined,
  CODEX_ACCOUNT_ID: undefined
})
