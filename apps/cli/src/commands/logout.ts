/**
 * `nexus logout`: revokes a sign-in at the issuer (best effort) and deletes it from the store.
 *
 * @since 0.1.0
 */
import { Credentials, FileStore, TokenStore } from "@nexus/token-store"
import { Config, Console, Effect, Option } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { nameOf, resolveAccount } from "../internal/accounts.ts"
import { CredentialsLive } from "../Services.ts"

/**
 * `nexus logout`.
 *
 * @since 0.1.0
 * @category commands
 */
export const logout = Command.make(
  "logout",
  {
    account: Flags.account,
    all: Flag.Boolean("all").pipe(
      Flag.withDescription("Sign every account out"),
      Flag.withDefault(false),
      Flag.withoutNegation
    ),
    json: Flags.json("what was signed out")
  },
  Effect.fn("nexus.logout")(function* ({ account, all, json }) {
    const store = yield* TokenStore.TokenStore
    const credentials = yield* Credentials.Credentials
    const targets = all ? yield* store.list : [yield* resolveAccount("logout", account)]
    const results = []
    for (const stored of targets) {
      const outcome = yield* credentials
        .signOut(stored.tokens.accountId)
        .pipe(
          Effect.catchTag("TokenNotFound", () =>
            Effect.succeed({ stored, revoked: false, detail: "already signed out elsewhere" })
          )
        )
      results.push({
        accountId: stored.tokens.accountId,
        label: stored.label ?? null,
        email: stored.tokens.email ?? null,
        revoked: outcome.revoked,
        detail: outcome.detail
      })
      if (!json) {
        yield* Console.log(
          outcome.revoked
            ? `Signed out ${nameOf(stored)} (account ${stored.tokens.accountId}): the refresh token was revoked and the sign-in deleted.`
            : `Signed out ${nameOf(stored)} (account ${stored.tokens.accountId}): the sign-in was deleted, but revoking it failed (${outcome.detail}); it will expire on its own.`
        )
      }
    }
    // The token file and the environment are sources the store copies in on first use: a sign-in
    // they still hold comes back on the next command. Say so rather than let it look like a bug.
    const seeds = [
      ...(Option.isSome(yield* Effect.orDie(Config.option(Config.String("CODEX_ACCESS_TOKEN"))))
        ? ["the environment (CODEX_ACCESS_TOKEN): unset it"]
        : []),
      ...(Option.isSome(yield* FileStore.find().pipe(Effect.orElseSucceed(() => Option.none())))
        ? [`the token file (${yield* Effect.orDie(FileStore.path)}): delete it`]
        : [])
    ]
    for (const seed of seeds) {
      yield* Console.error(`Note: a sign-in is still held by ${seed}, or the next command will copy it in again.`)
    }
    if (json) return yield* Console.log(JSON.stringify(results, null, 2))
    if (targets.length === 0) yield* Console.log("No ChatGPT account was signed in: nothing to sign out.")
  })
).pipe(
  Command.withDescription("Revoke and delete a stored sign-in (or all of them)"),
  Command.validate(({ account, all }) =>
    all && Option.isSome(account)
      ? Effect.fail(new CliError.ValidationError({ message: "--account and --all cannot be combined: choose one" }))
      : Effect.void
  ),
  Command.provide(CredentialsLive)
)
