/**
 * `nexus keys rotate`: re-encrypts every stored token under the current `NEXUS_TOKEN_KEY`, in one
 * transaction, reading older rows with `NEXUS_TOKEN_KEY_PREVIOUS`.
 *
 * @since 0.1.0
 */
import { Crypto, KeyRotation, TokenStore } from "@nexus/token-store"
import { Config, Console, Effect, Layer, Option } from "effect"
import { CliError, Command } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { DatabaseLive } from "../Services.ts"

const rotate = Command.make(
  "rotate",
  {
    json: Flags.json("the outcome")
  },
  Effect.fn("nexus.keys.rotate")(function* ({ json }) {
    // A key generated on this machine alone would lock every other instance out of every row.
    if (Option.isNone(yield* Effect.orDie(Config.option(Config.String("NEXUS_TOKEN_KEY"))))) {
      return yield* new CliError.ValidationError({
        message:
          "nexus keys rotate needs the new key in NEXUS_TOKEN_KEY (and the old one in NEXUS_TOKEN_KEY_PREVIOUS): every instance of the fleet must be given the same key"
      })
    }
    // The store's layer has checked the schema; the rotation then takes every row in one transaction.
    yield* TokenStore.TokenStore
    const outcome = yield* KeyRotation.rotate
    if (json) return yield* Console.log(JSON.stringify(outcome))
    yield* Console.log(
      `Re-encrypted ${outcome.rows} sign-in${outcome.rows === 1 ? "" : "s"} under key ${outcome.keyId} (${outcome.stale} were under an older key). ` +
        (outcome.stale > 0 ? "Every instance can now drop NEXUS_TOKEN_KEY_PREVIOUS." : "")
    )
  })
).pipe(
  Command.withDescription(
    "Re-encrypt every stored token under the current NEXUS_TOKEN_KEY (old rows read with NEXUS_TOKEN_KEY_PREVIOUS)"
  ),
  Command.withExamples([
    {
      command: "NEXUS_TOKEN_KEY=$NEW NEXUS_TOKEN_KEY_PREVIOUS=$OLD nexus keys rotate",
      description: "Move every sign-in to the new key"
    }
  ]),
  Command.provide(
    Layer.provideMerge(TokenStore.TokenStore.layerPg, Layer.merge(Crypto.Crypto.layerConfig, DatabaseLive))
  )
)

/**
 * `nexus keys`: the encryption key commands.
 *
 * @since 0.1.0
 * @category commands
 */
export const keys = Command.make("keys").pipe(
  Command.withDescription("Manage the key that encrypts stored tokens"),
  Command.withExamples([
    {
      command: "NEXUS_TOKEN_KEY=$NEW NEXUS_TOKEN_KEY_PREVIOUS=$OLD nexus keys rotate",
      description: "Re-encrypt every sign-in under a new key"
    }
  ]),
  Command.withSubcommands([rotate])
)
