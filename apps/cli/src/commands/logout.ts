/**
 * `nexus logout`: revokes a sign-in at the issuer (best effort) and deletes it from the store.
 *
 * @since 0.1.0
 */
import { Credentials, FileStore, TokenStore } from "@nexus/token-store"
import { Config, Console, Effect, Option } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { nameOf } from "../internal/accounts.ts"
import { AmbiguousAccount, NoAccount } from "../Errors.ts"
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
    // Rows this instance cannot decrypt (another key) can be signed out too: only not revoked.
    const { readable, unreadable } = yield* store.inventory
    const everyone = [...readable.map((stored) => stored.tokens.accountId), ...unreadable.map((row) => row.accountId)]
    const targets = all
      ? everyone
      : Option.isSome(account)
        ? [account.value]
        : everyone.length === 1
          ? everyone
          : everyone.length === 0
            ? yield* new NoAccount()
            : yield* new AmbiguousAccount({
                command: "logout",
                accounts: [...readable.map(nameOf), ...unreadable.map((row) => row.label ?? row.email ?? row.accountId)]
              })
    const results = []
    for (const target of targets) {
      const outcome = yield* credentials.signOut(target).pipe(
        Effect.catchTag("TokenNotFound", (error) =>
          all
            ? Effect.succeed({
                accountId: target,
                label: undefined,
                email: undefined,
                revoked: false,
                detail: "already signed out elsewhere"
              })
            : Effect.fail(error)
        )
      )
      results.push({
        accountId: outcome.accountId,
        label: outcome.label ?? null,
        email: outcome.email ?? null,
        revoked: outcome.revoked,
        detail: outcome.detail
      })
      if (!json) {
        const name = outcome.label ?? outcome.email ?? outcome.accountId
        yield* Console.log(
          outcome.revoked
            ? `Signed out ${name} (account ${outcome.accountId}): the refresh token was revoked and the sign-in deleted.`
            : `Signed out ${name} (account ${outcome.accountId}): the sign-in was deleted, but it was ${outcome.detail.startsWith("not revoked") ? outcome.detail : `not revoked (${outcome.detail})`}; it will expire on its own.`
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
  Command.withExamples([
    { command: "nexus logout --account work", description: "Sign one account out" },
    { command: "nexus logout --all", description: "Sign every account out" }
  ]),
  Command.validate(({ account, all }) =>
    all && Option.isSome(account)
      ? Effect.fail(new CliError.ValidationError({ message: "--account and --all cannot be combined: choose one" }))
      : Effect.void
  ),
  Command.provide(CredentialsLive)
)
