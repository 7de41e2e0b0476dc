// The `nexus` binary end to end: real child processes against a scratch database and the emulator.
// The tests run in order and share the database: each one starts from the state it sets up.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { TokenStore } from "@nexus/token-store"
import { Effect, Redacted } from "effect"
import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  childEnv,
  nexus,
  nexusOnTerminal,
  type Outcome,
  start,
  tempDir,
  TEST_KEY,
  TestLive,
  withoutSeed
} from "./helpers.ts"
import { assertNoTokenShapes, envFromIssued, ReaderLive, reset, statusJson } from "./session.ts"

layer(TestLive, { excludeTestServices: true, timeout: "60 seconds" })("nexus", (it) => {
  it.effect("--help exits 0 and lists the commands; an unknown command or flag exits 2 with one line on stderr", () =>
    Effect.gen(function* () {
      const env = yield* childEnv
      const help = yield* nexus(["--help"], env)
      assert.strictEqual(help.code, 0, help.stderr)
      for (const command of ["login", "status", "token", "logout", "db"]) assert.include(help.stdout, command)

      // A usage error is one short line on stderr, nothing on stdout.
      const unknown = yield* nexus(["frobnicate"], env)
      assert.strictEqual(unknown.code, 2)
      assert.strictEqual(unknown.stdout, "")
      assert.strictEqual(
        unknown.stderr,
        'Error: Unknown subcommand "frobnicate" for "nexus". Run `nexus --help` for usage.\n'
      )

      const badFlag = yield* nexus(["status", "--bogus"], env)
      assert.strictEqual(badFlag.code, 2)
      assert.strictEqual(badFlag.stdout, "")
      assert.strictEqual(
        badFlag.stderr,
        "Error: Unrecognized flag: --bogus in command nexus status. Run `nexus status --help` for usage.\n"
      )
    })
  )

  it.effect(
    "colour only on a terminal and never with NO_COLOR; --completions prints a script for bash, zsh and fish naming every command",
    () =>
      Effect.gen(function* () {
        const env = { ...(yield* childEnv), NO_COLOR: undefined }
        // A colour: ESC [ … m.
        const escape = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`)
        assert.match((yield* nexusOnTerminal(["db", "--help"], env)).stdout, escape)
        assert.notMatch((yield* nexusOnTerminal(["db", "--help"], { ...env, NO_COLOR: "1" })).stdout, escape)
        const piped = yield* nexus(["db", "--help"], env)
        assert.notMatch(piped.stdout, escape)
        assert.include(piped.stdout, "EXAMPLES")
        for (const shell of ["bash", "zsh", "fish"]) {
          const script = yield* nexus(["--completions", shell], env)
          assert.strictEqual(script.code, 0, script.stderr)
          for (const command of ["demo", "login", "status", "worker", "queue", "db"])
            assert.include(script.stdout, command)
        }
      })
  )

  it.effect("--help needs no database: it works with none configured", () =>
    Effect.gen(function* () {
      const env = { ...(yield* childEnv), DATABASE_URL: undefined }
      const help = yield* nexus(["login", "--help"], env)
      assert.strictEqual(help.code, 0, help.stderr)
      assert.include(help.stdout, "--device")
      // Nor does it start the embedded one.
      const db = yield* nexus(["db", "status", "--json"], env)
      assert.strictEqual(JSON.parse(db.stdout).state, "absent")
    })
  )

  it.effect(
    "a command before db migrate says to run it and creates nothing; db migrate then creates every package's tables in one run, and a second run changes nothing",
    () =>
      Effect.gen(function* () {
        const env = yield* childEnv
        const sql = yield* PgClient.PgClient
        const tables = sql<{ readonly name: string }>`
        SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`.pipe(
          Effect.map((rows) => rows.map((row) => row.name))
        )

        const early = yield* nexus(["status"], env)
        assert.strictEqual(early.code, 1, early.stderr)
        assert.include(early.stderr, "nexus db migrate")
        assert.include(early.stderr, "0001_oauth_tokens")
        assert.deepStrictEqual(yield* tables, [])

        const first = yield* nexus(["db", "migrate"], env)
        assert.strictEqual(first.code, 0, first.stderr)
        assert.include(first.stdout, "Applied migration 0001_oauth_tokens (@nexus/token-store)")
        assert.include(first.stdout, "Applied migration 0001_usage_and_models (@nexus/provider-codex)")
        assert.include(first.stdout, "Applied migration 0001_pool (@nexus/router)")
        assert.include(first.stdout, "Applied migration 0002_cooldowns (@nexus/router)")
        assert.include(first.stdout, "Applied migration 0003_instances (@nexus/router)")
        assert.include(first.stdout, "Applied migration 0001_keys (@nexus/gateway)")
        assert.include(first.stdout, "Applied migration 0001_pgmq (@nexus/queue-pgmq)")
        assert.include(first.stdout, "(8 applied)")
        assert.include(first.stdout, "pgmq: Nexus's pgmq-compatible install")
        const created = yield* tables
        assert.deepStrictEqual(created, [
          "nexus.account_blocks",
          "nexus.gateway_keys",
          "nexus.gateway_usage",
          "nexus.model_cooldowns",
          "nexus.models",
          "nexus.oauth_tokens",
          "nexus.router_instances",
          "nexus.usage_windows",
          "pgmq.a_llm_requests",
          "pgmq.a_llm_requests_dlq",
          "pgmq.a_llm_results",
          "pgmq.meta",
          "pgmq.notify_insert_throttle",
          "pgmq.q_llm_requests",
          "pgmq.q_llm_requests_dlq",
          "pgmq.q_llm_results",
          "pgmq.topic_bindings",
          "public.nexus_gateway_migrations",
          "public.nexus_migrations",
          "public.nexus_provider_codex_migrations",
          "public.nexus_queue_migrations",
          "public.nexus_router_migrations"
        ])
        const recorded = sql<{ readonly n: string }>`
        SELECT (SELECT count(*) FROM nexus_migrations) + (SELECT count(*) FROM nexus_provider_codex_migrations)
          + (SELECT count(*) FROM nexus_router_migrations) + (SELECT count(*) FROM nexus_queue_migrations)
          + (SELECT count(*) FROM nexus_gateway_migrations) AS n`

        const second = yield* nexus(["db", "migrate"], env)
        assert.strictEqual(second.code, 0, second.stderr)
        assert.include(second.stdout, "up to date")
        assert.notInclude(second.stdout, "Applied")
        assert.deepStrictEqual(yield* tables, created)
        assert.strictEqual(Number((yield* recorded)[0]!.n), 8)
      })
  )

  it.effect(
    "a machine without NEXUS_TOKEN_KEY cannot lock the fleet out: its login is refused naming the fleet's key, its status lists the row as unreadable, and its logout can delete it",
    () =>
      Effect.gen(function* () {
        yield* reset
        const emulator = yield* Emulator.Emulator
        const sql = yield* PgClient.PgClient
        const fleetKeyId = createHash("sha256").update(Buffer.from(TEST_KEY, "base64")).digest("hex").slice(0, 8)
        const rows = Effect.map(sql<{ readonly n: string }>`SELECT count(*) AS n FROM nexus.oauth_tokens`, ([row]) =>
          Number(row!.n)
        )

        // A fleet instance (the shared key, its own data dir) signs an account in.
        const fleet = { ...(yield* childEnv), ...(yield* envFromIssued()).env }
        assert.strictEqual((yield* nexus(["login", "--from-env", "--label", "fleet"], fleet)).code, 0)

        // A new machine with no key (another data dir: it would generate one) tries to add another.
        const other = yield* emulator.addAccount({ email: "newcomer@example.com" })
        const lone = { ...(yield* childEnv), ...(yield* envFromIssued(other.id)).env, NEXUS_TOKEN_KEY: undefined }
        const refused = yield* nexus(["login", "--from-env", "--label", "lone"], lone)
        assert.strictEqual(refused.code, 1, refused.stdout)
        assert.include(refused.stderr, `encrypted under key ${fleetKeyId}, which this instance does not have`)
        assert.include(refused.stderr, "Set NEXUS_TOKEN_KEY on this machine to the key every other instance uses")
        assert.strictEqual(yield* rows, 1)
        // Its environment's sign-in is not copied in under its own key behind the user's back either.
        yield* nexus(["status"], lone)
        assert.strictEqual(yield* rows, 1)

        // The fleet is unaffected.
        const fleetStatus = yield* nexus(["status"], withoutSeed(fleet))
        assert.strictEqual(fleetStatus.code, 0, fleetStatus.stderr)

        // The new machine sees the row, marked, and exits non-zero.
        const loneStatus = yield* nexus(["status", "--json"], withoutSeed(lone))
        assert.strictEqual(loneStatus.code, 1)
        const [row] = JSON.parse(loneStatus.stdout) as ReadonlyArray<Record<string, unknown>>
        assert.deepInclude(row, { label: "fleet", readable: false, keyId: fleetKeyId, expiresAt: null })
        assert.include(loneStatus.stderr, "set NEXUS_TOKEN_KEY to the key the fleet uses")

        // And it can delete it (not revoke it: it cannot read the refresh token).
        const logout = yield* nexus(["logout", "--account", "fleet"], withoutSeed(lone))
        assert.strictEqual(logout.code, 0, logout.stderr)
        assert.include(logout.stdout, `not revoked: its tokens are encrypted under key ${fleetKeyId}`)
        assert.strictEqual(yield* rows, 0)
      })
  )

  it.effect("status without any account exits 1 and says to run nexus login", () =>
    Effect.gen(function* () {
      yield* reset
      const env = yield* childEnv
      const outcome = yield* nexus(["status"], env)
      assert.strictEqual(outcome.code, 1)
      assert.include(outcome.stderr, "No ChatGPT account signed in — run `nexus login`.")
    })
  )

  it.effect("login --device prints the code, waits for its approval and stores the account", () =>
    Effect.gen(function* () {
      yield* reset
      const env = yield* childEnv
      const emulator = yield* Emulator.Emulator
      const [account] = yield* emulator.accounts
      const running = start(["login", "--device", "--label", "work"], env)
      const [, code] = yield* Effect.promise(() => running.waitFor(/enter the code (\S+)/))
      yield* emulator.approveDevice(code!)
      const outcome = yield* Effect.promise(() => running.done)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.include(
        outcome.stdout,
        `Signed in as ${account!.email} (${account!.plan}), account ${account!.id}, label work`
      )
      assertNoTokenShapes(outcome)

      const status = yield* statusJson(env)
      assert.strictEqual(status.length, 1)
      assert.deepInclude(status[0], {
        label: "work",
        email: account!.email,
        plan: account!.plan,
        accountId: account!.id,
        status: "active",
        reason: null,
        store: "postgres"
      })
      assert.match(String(status[0]!.expiresIn), /^in \d+ min$/)
      const text = JSON.stringify(status)
      assert.notInclude(text, "eyJ")
      assert.notInclude(text, "rt_")
    })
  )

  it.effect(
    "login on a machine without a display suggests --device, prints the URL; following it signs in through the callback",
    () =>
      Effect.gen(function* () {
        yield* reset
        const env = { ...(yield* childEnv), DISPLAY: undefined, WAYLAND_DISPLAY: undefined }
        const running = start(["login"], env)
        const [url] = yield* Effect.promise(() => running.waitFor(/http\S+\/oauth\/authorize\?\S+/))
        // The emulator approves at once and redirects into the child's callback, which exchanges the
        // code and redirects to its success page.
        const page = yield* Effect.promise(() => fetch(url!, { redirect: "follow" }))
        assert.strictEqual(page.status, 200)
        const outcome = yield* Effect.promise(() => running.done)
        assert.strictEqual(outcome.code, 0, outcome.stderr)
        assert.match(outcome.stdout, /Signed in as \S+@\S+ \(plus\), account \S+, no label/)
        assert.include(outcome.stderr, "this machine has no display. Sign in with `nexus login --device` instead")
        assertNoTokenShapes(outcome)
        assert.strictEqual((yield* statusJson(env)).length, 1)
      })
  )

  it.effect(
    "login --from-env stores the CODEX_* sign-in; again under another label, it says it renames the account",
    () =>
      Effect.gen(function* () {
        yield* reset
        const { env: tokens } = yield* envFromIssued()
        const env = { ...(yield* childEnv), ...tokens }
        const outcome = yield* nexus(["login", "--from-env", "--label", "from-env"], env)
        assert.strictEqual(outcome.code, 0, outcome.stderr)
        assert.include(outcome.stdout, "label from-env")
        assertNoTokenShapes(outcome)
        const [status] = yield* statusJson(env)
        assert.strictEqual(status!.label, "from-env")
        assert.strictEqual(status!.plan, "plus")
        // Signing the same account in again under another label renames it, and says so.
        const renamed = yield* nexus(["login", "--from-env", "--label", "renamed"], env)
        assert.strictEqual(renamed.code, 0, renamed.stderr)
        assert.include(renamed.stdout, "This account was labelled from-env: it is now renamed")
        assert.strictEqual((yield* statusJson(env))[0]!.label, "renamed")
      })
  )

  it.effect(
    "keys rotate re-encrypts every sign-in under the new key; afterwards the old key alone cannot read them",
    () =>
      Effect.gen(function* () {
        yield* reset
        const { env: tokens } = yield* envFromIssued()
        const env = { ...(yield* childEnv), ...tokens }
        assert.strictEqual((yield* nexus(["login", "--from-env", "--label", "rotating"], env)).code, 0)
        const seedless = withoutSeed(env)
        const newKey = Buffer.alloc(32, 3).toString("base64")
        const rotated = yield* nexus(["keys", "rotate", "--json"], {
          ...seedless,
          NEXUS_TOKEN_KEY: newKey,
          NEXUS_TOKEN_KEY_PREVIOUS: env.NEXUS_TOKEN_KEY
        })
        assert.strictEqual(rotated.code, 0, rotated.stderr)
        assert.deepInclude(JSON.parse(rotated.stdout) as Record<string, unknown>, { rows: 1, stale: 1 })
        assert.strictEqual((yield* nexus(["status"], { ...seedless, NEXUS_TOKEN_KEY: newKey })).code, 0)
        const oldOnly = yield* nexus(["status"], seedless)
        assert.strictEqual(oldOnly.code, 1)
        assert.include(oldOnly.stderr, "NEXUS_TOKEN_KEY")
      })
  )

  it.effect(
    "login --from-env without CODEX_ACCOUNT_ID, and no claim to fall back on, names the variable; opaque tokens are refused",
    () =>
      Effect.gen(function* () {
        yield* reset
        const env = {
          ...(yield* childEnv),
          CODEX_ACCESS_TOKEN: "opaque-access-token",
          CODEX_REFRESH_TOKEN: "opaque-refresh-token",
          CODEX_EXPIRES_AT: String(Math.floor(Date.now() / 1000) + 3600)
        }
        const outcome = yield* nexus(["login", "--from-env"], env)
        assert.strictEqual(outcome.code, 1)
        assert.include(outcome.stderr, "CODEX_ACCOUNT_ID")
        assert.notInclude(outcome.stderr, "opaque-access-token")

        const noRefresh = yield* nexus(["login", "--from-env"], { ...env, CODEX_REFRESH_TOKEN: undefined })
        assert.strictEqual(noRefresh.code, 1)
        assert.include(noRefresh.stderr, "CODEX_REFRESH_TOKEN")

        // Opaque text with every variable set is refused too, and nothing is stored.
        const opaque = yield* nexus(["login", "--from-env"], { ...env, CODEX_ACCOUNT_ID: "acct-opaque" })
        assert.strictEqual(opaque.code, 1)
        assert.include(opaque.stderr, "CODEX_ACCESS_TOKEN is not a JWT, so it is not a ChatGPT access token")
        assert.notInclude(opaque.stderr, "opaque-access-token")
        const sql = yield* PgClient.PgClient
        assert.lengthOf(yield* sql`SELECT 1 FROM nexus.oauth_tokens`, 0)
      })
  )

  it.effect("login --import-codex PATH imports the Codex CLI's auth.json", () =>
    Effect.gen(function* () {
      yield* reset
      const emulator = yield* Emulator.Emulator
      const [account] = yield* emulator.accounts
      const issued = yield* emulator.issueTokens()
      const home = tempDir("nexus-codex-home-")
      const path = join(home, "auth.json")
      writeFileSync(
        path,
        JSON.stringify({
          auth_mode: "chatgpt",
          OPENAI_API_KEY: null,
          tokens: {
            id_token: issued.id_token,
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            account_id: account!.id
          },
          last_refresh: new Date().toISOString()
        })
      )
      const env = yield* childEnv
      const outcome = yield* nexus(["login", "--import-codex", path, "--label", "codex"], env)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.include(outcome.stdout, `account ${account!.id}, label codex`)
      assertNoTokenShapes(outcome)

      const missing = yield* nexus(["login", "--import-codex", join(home, "nope.json")], env)
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, "nope.json")

      const stray = yield* nexus(["login", path], env)
      assert.strictEqual(stray.code, 2)
    })
  )

  it.effect(
    "token refresh refreshes the only account, tells the issuer it is scheduled, and prints the new expiry",
    () =>
      Effect.gen(function* () {
        yield* reset
        const emulator = yield* Emulator.Emulator
        const { env: tokens } = yield* envFromIssued()
        const env = { ...(yield* childEnv), ...tokens }
        assert.strictEqual((yield* nexus(["login", "--from-env"], env)).code, 0)
        const before = (yield* emulator.counters).refreshes
        const outcome = yield* nexus(["token", "refresh"], env)
        assert.strictEqual(outcome.code, 0, outcome.stderr)
        assert.match(outcome.stdout, /the access token now expires in \d+/)
        const after = (yield* emulator.counters).refreshes
        assert.strictEqual(after.succeeded, before.succeeded + 1)
        assert.strictEqual(after.byRefreshReason["scheduled"] ?? 0, (before.byRefreshReason["scheduled"] ?? 0) + 1)
        assert.strictEqual(
          after.byRefreshReason["unauthorized_recovery"] ?? 0,
          before.byRefreshReason["unauthorized_recovery"] ?? 0
        )
      })
  )

  it.effect("a refused refresh (reused) marks the account reauth_required, and status shows why and exits 1", () =>
    Effect.gen(function* () {
      yield* reset
      const emulator = yield* Emulator.Emulator
      const { env: tokens } = yield* envFromIssued()
      const env = { ...(yield* childEnv), ...tokens }
      assert.strictEqual((yield* nexus(["login", "--from-env", "--label", "acme"], env)).code, 0)
      yield* emulator.injectFault({ kind: "refresh_reused" })
      const refresh = yield* nexus(["token", "refresh", "--account", "acme"], env)
      assert.strictEqual(refresh.code, 1)
      assert.include(refresh.stderr, "nexus login --label acme")

      const [status] = yield* statusJson(env, 1)
      assert.strictEqual(status!.status, "reauth_required")
      assert.strictEqual(status!.reason, "reused")
      const human = yield* nexus(["status"], env)
      assert.strictEqual(human.code, 1, human.stderr)
      assert.include(human.stdout, "reauth_required (reused)")
      assert.include(
        human.stderr,
        "1 account needs attention: acme must sign in again (reused): run `nexus login --label acme`"
      )
    })
  )

  it.effect("with several accounts, token refresh asks for --account (exit 2)", () =>
    Effect.gen(function* () {
      yield* reset
      const emulator = yield* Emulator.Emulator
      const other = yield* emulator.addAccount({ email: "second@example.com", plan: "pro" })
      const first = yield* envFromIssued()
      const second = yield* envFromIssued(other.id)
      const base = yield* childEnv
      assert.strictEqual((yield* nexus(["login", "--from-env", "--label", "one"], { ...base, ...first.env })).code, 0)
      assert.strictEqual((yield* nexus(["login", "--from-env", "--label", "two"], { ...base, ...second.env })).code, 0)
      const outcome = yield* nexus(["token", "refresh"], base)
      assert.strictEqual(outcome.code, 2)
      assert.include(outcome.stderr, "--account")
      assert.include(outcome.stderr, "one")
      assert.include(outcome.stderr, "two")
      const chosen = yield* nexus(["token", "refresh", "--account", "two"], base)
      assert.strictEqual(chosen.code, 0, chosen.stderr)
      assert.include(chosen.stdout, "Refreshed two")
    })
  )

  it.effect("logout --all revokes every sign-in at the issuer and deletes it", () =>
    Effect.gen(function* () {
      yield* reset
      const emulator = yield* Emulator.Emulator
      const { env: tokens } = yield* envFromIssued()
      const env = { ...(yield* childEnv), ...tokens }
      assert.strictEqual((yield* nexus(["login", "--from-env"], env)).code, 0)
      const before = (yield* emulator.counters).revokes
      const outcome = yield* nexus(["logout", "--all"], env)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.include(outcome.stdout, "revoked")
      assert.strictEqual((yield* emulator.counters).revokes, before + 1)

      // The environment still holds the sign-in: logout says so, and without it nothing is left.
      assert.include(outcome.stderr, "CODEX_ACCESS_TOKEN")
      const status = yield* nexus(["status"], withoutSeed(env))
      assert.strictEqual(status.code, 1)
      assert.include(status.stderr, "run `nexus login`")
    })
  )

  it.effect("an unreachable database is named by host and database, never with its password", () =>
    Effect.gen(function* () {
      const env = { ...(yield* childEnv), DATABASE_URL: "postgres://u:secretpw@127.0.0.1:1/x" }
      const outcome = yield* nexus(["status"], env)
      assert.strictEqual(outcome.code, 1)
      assert.include(outcome.stderr, "127.0.0.1:1")
      assert.include(outcome.stderr, "database x")
      assert.notInclude(outcome.stderr + outcome.stdout, "secretpw")

      const debug = yield* nexus(["--log-level", "debug", "status"], { ...env, NEXUS_LOG_LEVEL: "debug" })
      assert.strictEqual(debug.code, 1)
      assert.notInclude(debug.stderr + debug.stdout, "secretpw")
    })
  )

  it.effect(
    "with the embedded database switched off and none configured, a database command says to set DATABASE_URL",
    () =>
      Effect.gen(function* () {
        const env = { ...(yield* childEnv), DATABASE_URL: undefined, NEXUS_EMBEDDED_DB: "off" }
        const outcome = yield* nexus(["db", "migrate"], env)
        assert.strictEqual(outcome.code, 1)
        assert.include(
          outcome.stderr,
          "the embedded one is switched off (NEXUS_EMBEDDED_DB=off): set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/nexus)"
        )
      })
  )

  it.effect("no token issued by the emulator ever appears in any output, even with debug logging", () =>
    Effect.gen(function* () {
      yield* reset
      const emulator = yield* Emulator.Emulator
      const { issued, env: tokens } = yield* envFromIssued()
      const env = { ...(yield* childEnv), ...tokens, NEXUS_LOG_LEVEL: "debug" }
      const secrets = new Set([issued.access_token, issued.refresh_token, issued.id_token])
      const outputs: Array<Outcome> = []
      const run = (args: ReadonlyArray<string>) =>
        Effect.tap(nexus(["--log-level", "debug", ...args], env), (outcome) => Effect.sync(() => outputs.push(outcome)))

      assert.strictEqual((yield* run(["login", "--from-env", "--json", "--label", "scan"])).code, 0)
      assert.strictEqual((yield* run(["status", "--json"])).code, 0)
      assert.strictEqual((yield* run(["status"])).code, 0)
      assert.strictEqual((yield* run(["token", "refresh", "--json"])).code, 0)
      // The refreshed tokens were never seen by the test: read them back as the children stored them.
      const stored = yield* Effect.provide(
        TokenStore.TokenStore.use((store) => store.get("scan")),
        ReaderLive
      )
      secrets.add(Redacted.value(stored.tokens.accessToken))
      secrets.add(Redacted.value(stored.tokens.refreshToken))
      if (stored.tokens.idToken) secrets.add(Redacted.value(stored.tokens.idToken))
      assert.strictEqual((yield* run(["status", "--json"])).code, 0)

      yield* emulator.injectFault({ kind: "refresh_reused" })
      assert.strictEqual((yield* run(["token", "refresh"])).code, 1)
      assert.strictEqual((yield* run(["logout", "--all", "--json"])).code, 0)
      // Without the environment's sign-in (which logout says it would copy in again), nothing is left.
      const after = yield* nexus(["--log-level", "debug", "status", "--json"], withoutSeed(env))
      outputs.push(after)
      assert.strictEqual(after.code, 1)

      // Debug logging was really on.
      assert.include(outputs.map((outcome) => outcome.stderr).join("\n"), "DEBUG")
      for (const outcome of outputs) {
        for (const secret of secrets) {
          assert.notInclude(outcome.stdout, secret)
          assert.notInclude(outcome.stderr, secret)
        }
        assertNoTokenShapes(outcome)
      }
    })
  )
})
