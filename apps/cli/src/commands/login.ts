/**
 * `nexus login`: signs a ChatGPT account in (browser, device code, the Codex CLI's auth.json or the
 * environment) and stores the sign-in, encrypted, in Postgres.
 *
 * @since 0.1.0
 */
import { CredentialImport, OAuthClient, TokenSet } from "@nexus/oauth"
import { EnvStore, TokenStore } from "@nexus/token-store"
import { Console, DateTime, Duration, Effect, Option } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { withSpinner } from "../internal/spinner.ts"
import { CredentialsLive } from "../Services.ts"

interface Input {
  readonly device: boolean
  readonly browser: boolean
  readonly importCodex: boolean
  readonly fromEnv: boolean
  readonly json: boolean
}

/** Signs in as the flags say; with --json, prompts go to stderr so that stdout stays JSON. */
const signIn = Effect.fnUntraced(function* (input: Input, path: Option.Option<string>) {
  const say = input.json ? Console.error : Console.log
  if (input.importCodex) {
    const tokens = yield* CredentialImport.importCodexAuth(Option.getOrUndefined(path))
    // The Codex CLI keeps refreshing the same sign-in: whichever refreshes second gets
    // refresh_token_reused. Say so before it happens.
    yield* Console.error(
      "Note: stop using this sign-in with the Codex CLI now — it and Nexus would rotate the same refresh token, and the second to refresh would be logged out. Sign the Codex CLI in separately if you need both."
    )
    return { tokens, source: "codex" }
  }
  if (input.fromEnv) {
    const found = yield* EnvStore.read()
    if (Option.isNone(found))
      return yield* new TokenStore.TokenStoreUnavailable({
        store: "env",
        reason: "Invalid",
        detail: "CODEX_ACCESS_TOKEN is not set",
        retryable: false
      })
    // A ChatGPT access token is a JWT carrying the account and the expiry: opaque text is refused
    // here, before it is stored as an active sign-in that could never work.
    yield* TokenSet.claimsOf("access_token", found.value.accessToken).pipe(
      Effect.mapError(
        (error) =>
          new TokenStore.TokenStoreUnavailable({
            store: "env",
            reason: "Invalid",
            detail: `CODEX_ACCESS_TOKEN ${error.problem}, so it is not a ChatGPT access token: copy tokens.access_token from the Codex CLI's auth.json (or use \`nexus login --import-codex\`)`,
            retryable: false
          })
      )
    )
    return { tokens: found.value, source: "env" }
  }
  const oauth = yield* OAuthClient.OAuthClient
  if (input.device) {
    const tokens = yield* withSpinner("Waiting for the code to be approved… (Ctrl+C to cancel)", (start) =>
      oauth.loginWithDeviceCode({
        onCode: (prompt) =>
          Effect.andThen(
            say(
              `To sign in, open ${prompt.verificationUrl} in a browser and enter the code ${prompt.userCode} (valid for ${Math.round(Duration.toMinutes(prompt.expiresIn))} min).`
            ),
            start
          )
      })
    )
    return { tokens, source: "login" }
  }
  // A headless Linux box has no browser to open, and a browser elsewhere cannot reach the loopback
  // callback without a tunnel: the device code is the way there.
  const headless = process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY
  if (headless) {
    yield* Console.error(
      "Note: this machine has no display. Sign in with `nexus login --device` instead, or open the URL below in a browser on this machine (or through an SSH tunnel to its callback port)."
    )
  }
  const tokens = yield* withSpinner("Waiting for the browser sign-in… (Ctrl+C to cancel)", (start) =>
    oauth.loginWithBrowser({
      openBrowser: input.browser && !headless,
      onUrl: (url) =>
        Effect.andThen(
          say(
            input.browser
              ? `Sign in with ChatGPT in your browser (opening it now; if it does not open, visit this URL):\n\n  ${url}\n`
              : `Sign in with ChatGPT: open this URL in a browser on this machine:\n\n  ${url}\n`
          ),
          start
        )
    })
  )
  return { tokens, source: "login" }
})

/**
 * `nexus login`.
 *
 * @since 0.1.0
 * @category commands
 */
export const login = Command.make(
  "login",
  {
    device: Flag.Boolean("device").pipe(
      Flag.withDescription("Sign in with a device code (for machines without a browser)"),
      Flag.withDefault(false),
      Flag.withoutNegation
    ),
    browser: Flag.Boolean("browser").pipe(
      Flag.withDescription("Open the system browser (--no-browser only prints the URL)"),
      Flag.withDefault(true)
    ),
    label: Flag.String("label").pipe(
      Flag.withDescription("A name for this account, used by --account elsewhere"),
      Flag.optional
    ),
    importCodex: Flag.Boolean("import-codex").pipe(
      Flag.withDescription("Import the Codex CLI's sign-in from PATH (default $CODEX_HOME/auth.json)"),
      Flag.withDefault(false),
      Flag.withoutNegation
    ),
    fromEnv: Flag.Boolean("from-env").pipe(
      Flag.withDescription(
        "Import CODEX_ACCESS_TOKEN, CODEX_REFRESH_TOKEN, CODEX_EXPIRES_AT (Unix seconds) and CODEX_ACCOUNT_ID"
      ),
      Flag.withDefault(false),
      Flag.withoutNegation
    ),
    json: Flags.json("the signed-in account"),
    path: Argument.String("path").pipe(
      Argument.withDescription("The auth.json to import with --import-codex"),
      Argument.optional
    )
  },
  Effect.fn("nexus.login")(function* (input) {
    const { tokens, source } = yield* signIn(input, input.path)
    const store = yield* TokenStore.TokenStore
    const before = yield* store.get(tokens.accountId).pipe(Effect.option)
    const stored = yield* store.put(tokens, { label: Option.getOrUndefined(input.label), source })
    const renamedFrom = Option.flatMap(before, (previous) =>
      previous.label !== undefined && previous.label !== stored.label ? Option.some(previous.label) : Option.none()
    )
    const { email, planType, accountId } = stored.tokens
    if (input.json) {
      return yield* Console.log(
        JSON.stringify(
          {
            accountId,
            label: stored.label ?? null,
            email: email ?? null,
            plan: planType ?? null,
            expiresAt: DateTime.formatIso(stored.tokens.expiresAt),
            source,
            store: "postgres",
            renamedFrom: Option.getOrNull(renamedFrom)
          },
          null,
          2
        )
      )
    }
    yield* Console.log(
      `Signed in as ${email ?? "(no email)"} (${planType ?? "unknown plan"}), account ${accountId}, ${
        stored.label ? `label ${stored.label}` : "no label (add one with --label NAME)"
      }`
    )
    if (Option.isSome(renamedFrom)) {
      yield* Console.log(
        `This account was labelled ${renamedFrom.value}: it is now ${stored.label} (use --account ${stored.label} from now on).`
      )
    }
  })
).pipe(
  Command.withDescription("Sign a ChatGPT account in and store it (encrypted) in PostgreSQL"),
  Command.withExamples([
    { command: "nexus login --label work", description: "Sign in with the browser" },
    { command: "nexus login --device", description: "Sign in on a machine without a browser" },
    { command: "nexus login --import-codex ~/.codex/auth.json", description: "Import the Codex CLI's sign-in" },
    { command: "nexus login --from-env", description: "Import the CODEX_* environment variables" }
  ]),
  Command.validate((input) => {
    const sources = [
      input.device && "--device",
      input.importCodex && "--import-codex",
      input.fromEnv && "--from-env"
    ].filter((flag) => flag !== false)
    if (sources.length > 1) {
      return Effect.fail(
        new CliError.ValidationError({
          message: `${sources.join(" and ")} cannot be combined: choose one way to sign in`
        })
      )
    }
    if (Option.isSome(input.path) && !input.importCodex) {
      return Effect.fail(
        new CliError.ValidationError({
          message: `unexpected argument ${input.path.value}: a PATH is only read with --import-codex`
        })
      )
    }
    return Effect.void
  }),
  Command.provide(CredentialsLive)
)
