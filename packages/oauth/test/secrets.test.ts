// No token ever reaches a log line or an error message: every flow runs with debug logging on and
// a logger that captures each entry (message, annotations, spans and cause, as JSON and logfmt);
// then none of the access, refresh or id token strings seen in the run may appear in any captured
// line, nor in any error's message, String() or JSON. (The emulator's counters and recorded
// requests are not logs and are not looked at.)
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Cause, Duration, Effect, Exit, Layer, Logger, Redacted, References } from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"
import { importCodexAuth, importTokensFile } from "../src/CredentialImport.ts"
import { OAuthClient } from "../src/OAuthClient.ts"
import { fromTokenResponse, type TokenSet } from "../src/TokenSet.ts"
import { followRedirects, freePort, layer as oauthLayer } from "./helpers.ts"

/** Every captured log entry, each as a JSON line and as a logfmt line. */
const lines: Array<string> = []
/** Every token string that appeared in the run. */
const secrets = new Set<string>()
/** The message, String() and JSON of every error the flows produced, and their causes rendered. */
const errorTexts: Array<string> = []

const CaptureLogger = Logger.make((options) => {
  lines.push(Logger.formatJson.log(options))
  lines.push(Logger.formatLogFmt.log(options))
})
const DebugCapture = Layer.mergeAll(Logger.layer([CaptureLogger]), Layer.succeed(References.MinimumLogLevel, "Debug"))

const remember = <T extends Pick<TokenSet, "accessToken" | "refreshToken" | "idToken">>(tokens: T): T => {
  secrets.add(Redacted.value(tokens.accessToken))
  secrets.add(Redacted.value(tokens.refreshToken))
  if (tokens.idToken) secrets.add(Redacted.value(tokens.idToken))
  return tokens
}

/** Every string reachable from a value, with byte arrays (request bodies) decoded as UTF-8. */
const strings = (value: unknown, seen = new Set<unknown>(), depth = 0): Array<string> => {
  if (typeof value === "string") return [value]
  if (value instanceof Uint8Array) return [Buffer.from(value).toString("utf8")]
  if (typeof value !== "object" || value === null || seen.has(value) || depth > 12) return []
  seen.add(value)
  const keys = [...Object.getOwnPropertyNames(value), ...(value instanceof Error ? ["message", "cause"] : [])]
  return keys.flatMap((key) => strings((value as Record<string, unknown>)[key], seen, depth + 1))
}

const rememberError = (error: unknown) => {
  if (error instanceof Error) errorTexts.push(error.message, String(error), JSON.stringify(error))
  else errorTexts.push(String(error), JSON.stringify(error))
  // Also whatever the error holds (causes, failed requests and their bodies), rendered and walked.
  errorTexts.push(inspect(error, { depth: 12 }), ...strings(error))
}

/** Runs a flow, keeping its tokens and its failure (rendered fully) for the leak check. */
const observe = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(effect)
    if (Exit.isFailure(exit)) {
      errorTexts.push(Cause.pretty(exit.cause))
      for (const reason of exit.cause.reasons) {
        if (reason._tag === "Fail") rememberError(reason.error)
        if (reason._tag === "Die") rememberError(reason.defect)
      }
    }
    return exit
  })

/** The captured lines and error texts that contain one of the secrets. */
const leaks = (texts: ReadonlyArray<string>) =>
  texts.filter((text) => [...secrets].some((secret) => text.includes(secret)))

const assertNoLeak = Effect.sync(() => {
  assert.isAbove(secrets.size, 0, "no token was collected: the flows did not run")
  assert.deepStrictEqual(leaks(lines), [], "a token appeared in a log line")
  assert.deepStrictEqual(leaks(errorTexts), [], "a token appeared in an error")
})

const mint = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  const raw = yield* emulator.issueTokens()
  for (const token of [raw.access_token, raw.refresh_token, raw.id_token]) secrets.add(token)
  return raw
})

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "nexus-oauth-secrets-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const write = (dir: string, name: string, content: string) =>
  Effect.promise(async () => {
    const path = join(dir, name)
    await writeFile(path, content, { mode: 0o600 })
    return path
  })

const callbackPort = await freePort()

layer(
  Layer.mergeAll(
    oauthLayer({
      redirectUri: `http://localhost:${callbackPort}/auth/callback`,
      emulator: { settings: { deviceIntervalSeconds: 0.05 } },
      client: { minimumPollInterval: Duration.millis(10) }
    }),
    NodeServices.layer
  ).pipe(Layer.provideMerge(DebugCapture)),
  { excludeTestServices: true }
)("no token in any log line or error message", (it) => {
  it.effect("the leak check finds a token in a line, and the capture logs at debug level", () =>
    Effect.gen(function* () {
      const before = lines.length
      yield* Effect.logDebug("probe", { n: 1 }).pipe(
        Effect.annotateLogs("probe", "annotation"),
        Effect.withLogSpan("probe-span")
      )
      const probe = lines.slice(before)
      assert.strictEqual(probe.length, 2)
      assert.include(probe[0]!, '"level":"DEBUG"')
      assert.include(probe[0]!, '"annotations":{"probe":"annotation"}')
      assert.include(probe[0]!, '"probe-span"')
      assert.include(probe[1]!, "probe=annotation")
      lines.splice(before)
      const raw = yield* mint
      assert.deepStrictEqual(leaks([`token ${raw.refresh_token} leaked`]), [`token ${raw.refresh_token} leaked`])
    })
  )

  it.effect("browser sign-in (loopback callback, code exchange)", () =>
    Effect.gen(function* () {
      const oauth = yield* OAuthClient
      const exit = yield* observe(oauth.loginWithBrowser({ openBrowser: followRedirects, onUrl: () => Effect.void }))
      if (Exit.isSuccess(exit)) remember(exit.value)
      yield* assertNoLeak
      assert.isTrue(
        Exit.isSuccess(exit),
        `the browser sign-in failed: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`
      )
      assert.isTrue(lines.some((line) => line.includes("exchanging the authorization code")))
      assert.isTrue(lines.some((line) => line.includes("listening for the sign-in callback")))
    })
  )

  it.effect("device-code sign-in", () =>
    Effect.gen(function* () {
      const oauth = yield* OAuthClient
      const emulator = yield* Emulator.Emulator
      const exit = yield* observe(
        oauth.loginWithDeviceCode({ onCode: (prompt) => emulator.approveDevice(prompt.userCode).pipe(Effect.orDie) })
      )
      if (Exit.isSuccess(exit)) remember(exit.value)
      yield* assertNoLeak
      assert.isTrue(
        Exit.isSuccess(exit),
        `the device sign-in failed: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`
      )
    })
  )

  it.effect("refresh, a rejected (reused) refresh, and a refresh against an unreachable issuer", () =>
    Effect.gen(function* () {
      const oauth = yield* OAuthClient
      const tokens = remember(yield* fromTokenResponse(yield* mint))
      const fresh = yield* observe(oauth.refresh(tokens, "proactive_expiry"))
      assert.isTrue(Exit.isSuccess(fresh))
      if (Exit.isSuccess(fresh)) remember(fresh.value)

      const reused = yield* observe(oauth.refresh(tokens, "unauthorized_recovery"))
      assert.isTrue(Exit.isFailure(reused))

      const port = yield* Effect.promise(freePort)
      const unreachable = yield* observe(
        OAuthClient.use((other) => other.refresh(tokens, "scheduled")).pipe(
          Effect.provide(OAuthClient.layerWith({ issuer: `http://127.0.0.1:${port}` }))
        )
      )
      assert.isTrue(Exit.isFailure(unreachable))
      yield* assertNoLeak
      assert.isTrue(lines.some((line) => line.includes('"refreshing"') && line.includes('"level":"DEBUG"')))
      assert.isTrue(lines.some((line) => line.includes('"refresh rejected"') && line.includes('"reason":"reused"')))
    })
  )

  it.effect("revoke: refresh token, access token only, and an unreachable issuer", () =>
    Effect.gen(function* () {
      const oauth = yield* OAuthClient
      const first = remember(yield* fromTokenResponse(yield* mint))
      const second = remember(yield* fromTokenResponse(yield* mint))
      const revoked = yield* oauth.revoke(first)
      assert.isTrue(revoked.revoked)
      yield* oauth.revoke({ accessToken: second.accessToken })
      const port = yield* Effect.promise(freePort)
      const outcome = yield* OAuthClient.use((other) => other.revoke(second)).pipe(
        Effect.provide(OAuthClient.layerWith({ issuer: `http://127.0.0.1:${port}` }))
      )
      assert.isFalse(outcome.revoked)
      errorTexts.push(outcome.detail)
      // A rejected refresh of the revoked token, for its error.
      yield* observe(oauth.refresh(first, "scheduled"))
      yield* assertNoLeak
      assert.isTrue(lines.some((line) => line.includes('"revoke"') && line.includes('"revoked":true')))
    })
  )

  it.effect("imports: valid auth.json and tokens.json, broken and invalid files", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const raw = yield* mint
      const tokens = {
        id_token: raw.id_token,
        access_token: raw.access_token,
        refresh_token: raw.refresh_token,
        account_id: "11111111-2222-4333-8444-555555555555"
      }
      const auth = yield* write(
        dir,
        "auth.json",
        JSON.stringify({
          auth_mode: "chatgpt",
          OPENAI_API_KEY: null,
          tokens,
          last_refresh: "2026-11-24T09:45:23.467028290Z"
        })
      )
      const seed = yield* write(
        dir,
        "tokens.json",
        JSON.stringify({
          access_token: raw.access_token,
          refresh_token: raw.refresh_token,
          expires_at: 1_900_000_000,
          token_type: "Bearer"
        })
      )
      for (const exit of [yield* observe(importCodexAuth(auth)), yield* observe(importTokensFile(seed))]) {
        assert.isTrue(Exit.isSuccess(exit))
        if (Exit.isSuccess(exit)) remember(exit.value)
      }

      const broken = [
        yield* write(
          dir,
          "broken-auth.json",
          `{"auth_mode": "chatgpt", "tokens": {"refresh_token": ${raw.refresh_token}}}`
        ),
        yield* write(dir, "no-last-refresh.json", JSON.stringify({ auth_mode: "chatgpt", tokens })),
        yield* write(
          dir,
          "bad-id-token.json",
          JSON.stringify({
            auth_mode: "chatgpt",
            tokens: { ...tokens, id_token: raw.refresh_token },
            last_refresh: "2026-11-24T09:45:23Z"
          })
        )
      ]
      for (const path of broken) assert.isTrue(Exit.isFailure(yield* observe(importCodexAuth(path))), path)
      const brokenSeeds = [
        yield* write(
          dir,
          "broken-tokens.json",
          `{"access_token": "${raw.access_token}", "refresh_token": ${raw.refresh_token}`
        ),
        yield* write(
          dir,
          "no-expiry.json",
          JSON.stringify({ access_token: raw.access_token, refresh_token: raw.refresh_token })
        ),
        yield* write(
          dir,
          "opaque.json",
          JSON.stringify({ access_token: raw.refresh_token, refresh_token: raw.access_token, expires_at: 1 })
        )
      ]
      for (const path of brokenSeeds) assert.isTrue(Exit.isFailure(yield* observe(importTokensFile(path))), path)
      yield* assertNoLeak
    })
  )

  it.effect("logging a TokenSet (as value, annotation, String and JSON) shows no token", () =>
    Effect.gen(function* () {
      const tokens = remember(yield* fromTokenResponse(yield* mint))
      const before = lines.length
      yield* Effect.log(tokens)
      yield* Effect.logDebug("tokens", tokens, tokens.accessToken, tokens.refreshToken)
      yield* Effect.log(String(tokens))
      yield* Effect.log(JSON.stringify(tokens))
      yield* Effect.log("annotated").pipe(
        Effect.annotateLogs({ tokens, refresh: tokens.refreshToken }),
        Effect.withLogSpan("secrets")
      )
      assert.strictEqual(lines.length - before, 10)
      for (const text of [String(tokens), JSON.stringify(tokens)]) {
        assert.include(text, "<redacted")
        assert.include(text, tokens.accountId)
        errorTexts.push(text)
      }
      yield* assertNoLeak
    })
  )

  it.effect("across every flow: no captured line holds any token, and the debug lines were captured", () =>
    Effect.gen(function* () {
      // Self-contained: its own refresh, rejected refresh and revoke, whatever ran before.
      const oauth = yield* OAuthClient
      const tokens = remember(yield* fromTokenResponse(yield* mint))
      const fresh = yield* observe(oauth.refresh(tokens, "proactive_expiry"))
      if (Exit.isSuccess(fresh)) yield* observe(oauth.revoke(remember(fresh.value)))
      yield* observe(oauth.refresh(tokens, "unauthorized_recovery"))
      yield* assertNoLeak
      assert.isAbove(lines.length, 20)
      for (const message of ["refreshing", "refresh rejected", "revoke"]) {
        assert.isTrue(
          lines.some(
            (line) => line.startsWith("{") && line.includes(`"${message}"`) && line.includes('"level":"DEBUG"')
          ),
          `no DEBUG "${message}" line was captured`
        )
      }
    })
  )
})
