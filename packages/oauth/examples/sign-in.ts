/**
 * Runs the sign-in flows by hand, against the real issuer or the emulator (CODEX_ISSUER), and prints
 * what the sign-in says about the account — never a token.
 *
 *   node packages/oauth/examples/sign-in.ts [--device] [--no-browser] [--refresh] [--revoke]
 *   node packages/oauth/examples/sign-in.ts --import-codex [PATH] | --import-seed [PATH]
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Console, DateTime, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { CredentialImport, OAuthClient as OAuth, type TokenSet as Tokens } from "../src/index.ts"

const { OAuthClient } = OAuth
type TokenSet = Tokens.TokenSet

const describe = (tokens: TokenSet) =>
  Console.log(
    JSON.stringify(
      {
        accountId: tokens.accountId,
        email: tokens.email,
        planType: tokens.planType,
        userId: tokens.userId,
        scopes: tokens.scopes,
        expiresAt: DateTime.formatIso(tokens.expiresAt),
        lastRefresh: DateTime.formatIso(tokens.lastRefresh)
      },
      null,
      2
    )
  )

const command = Command.make(
  "sign-in",
  {
    device: Flag.Boolean("device").pipe(Flag.withDescription("Use the device-code flow"), Flag.withDefault(false)),
    noBrowser: Flag.Boolean("no-browser").pipe(Flag.withDescription("Only print the URL"), Flag.withDefault(false)),
    refresh: Flag.Boolean("refresh").pipe(
      Flag.withDescription("Refresh once after signing in"),
      Flag.withDefault(false)
    ),
    revoke: Flag.Boolean("revoke").pipe(Flag.withDescription("Revoke at the end"), Flag.withDefault(false)),
    importCodex: Flag.String("import-codex").pipe(
      Flag.withDescription("Import a Codex CLI auth.json instead"),
      Flag.optional
    ),
    importSeed: Flag.String("import-seed").pipe(
      Flag.withDescription("Import a seed tokens.json instead"),
      Flag.optional
    )
  },
  Effect.fn(function* (flags) {
    const oauth = yield* OAuthClient
    const tokens = Option.isSome(flags.importCodex)
      ? yield* CredentialImport.importCodexAuth(flags.importCodex.value)
      : Option.isSome(flags.importSeed)
        ? yield* CredentialImport.importTokensFile(flags.importSeed.value)
        : flags.device
          ? yield* oauth.loginWithDeviceCode()
          : yield* oauth.loginWithBrowser({ openBrowser: !flags.noBrowser })
    yield* describe(tokens)
    const latest = flags.refresh ? yield* oauth.refresh(tokens, "scheduled") : tokens
    if (flags.refresh) yield* Console.log("refreshed; the refresh token rotated").pipe(Effect.andThen(describe(latest)))
    if (flags.revoke) yield* Console.log(`revoke: ${(yield* oauth.revoke(latest)).detail}`)
  })
).pipe(Command.withDescription("Sign in with ChatGPT by hand (CODEX_ISSUER selects the issuer)"))

Command.run(command, { version: "0.1.0" }).pipe(
  Effect.provide(Layer.merge(OAuthClient.layer, NodeServices.layer)),
  NodeRuntime.runMain
)
