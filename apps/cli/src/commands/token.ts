/**
 * `nexus token refresh`: refreshes one account's tokens now, under the same fleet-wide lock the
 * workers use.
 *
 * @since 0.1.0
 */
import { Credentials } from "@nexus/token-store"
import { Clock, Console, DateTime, Effect } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { nameOf, resolveAccount } from "../internal/accounts.ts"
import { expiresIn } from "../internal/format.ts"
import { CredentialsLive } from "../Services.ts"

const refresh = Command.make(
  "refresh",
  {
    account: Flags.account,
    json: Flags.json("the account and its new expiry")
  },
  Effect.fn("nexus.token.refresh")(function* ({ account, json }) {
    const target = yield* resolveAccount("token refresh", account)
    const accountId = target.tokens.accountId
    // Under the fleet-wide lock, whatever the expiry, told to the issuer as `scheduled`.
    const after = yield* (yield* Credentials.Credentials).refreshNow(accountId)
    const now = yield* Clock.currentTimeMillis
    const expiry = expiresIn(DateTime.toEpochMillis(after.tokens.expiresAt), now)
    if (json) {
      return yield* Console.log(
        JSON.stringify(
          {
            accountId,
            label: after.label ?? null,
            email: after.tokens.email ?? null,
            expiresAt: DateTime.formatIso(after.tokens.expiresAt),
            expiresIn: expiry,
            lastRefresh: DateTime.formatIso(after.tokens.lastRefresh),
            status: after.status
          },
          null,
          2
        )
      )
    }
    yield* Console.log(
      `Refreshed ${nameOf(after)} (account ${accountId}): the access token now expires ${expiry} (${DateTime.formatIso(after.tokens.expiresAt)}).`
    )
  })
).pipe(
  Command.withDescription("Refresh an account's tokens now"),
  Command.withExamples([
    { command: "nexus token refresh", description: "Refresh the only signed-in account" },
    {
      command: "nexus token refresh --account work --json",
      description: "Refresh one account, print its new expiry as JSON"
    }
  ]),
  Command.provide(CredentialsLive)
)

/**
 * `nexus token`: token maintenance.
 *
 * @since 0.1.0
 * @category commands
 */
export const token = Command.make("token").pipe(
  Command.withDescription("Manage the stored tokens"),
  Command.withExamples([
    { command: "nexus token refresh --account work", description: "Refresh an account's tokens now" }
  ]),
  Command.withSubcommands([refresh])
)
