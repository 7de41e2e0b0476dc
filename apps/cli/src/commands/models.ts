/**
 * `nexus models`: the models the Codex backend offers to a signed-in account.
 *
 * @since 0.1.0
 */
import { CodexClient } from "@nexus/provider-codex"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { resolveAccount } from "../internal/accounts.ts"
import { ChatLive } from "../Services.ts"

/**
 * `nexus models`.
 *
 * @since 0.1.0
 * @category commands
 */
export const models = Command.make(
  "models",
  {
    account: Flags.account,
    json: Flags.json("the catalog")
  },
  Effect.fn("nexus.models")(function* ({ account, json }) {
    const target = yield* resolveAccount("models", account)
    const client = yield* CodexClient.CodexClient
    const all = (yield* client.models(target.tokens.accountId)).filter((model) => model.visibility !== "hide")
    if (json) return yield* Console.log(JSON.stringify(all, null, 2))
    for (const model of all) {
      const levels = (model.supported_reasoning_levels ?? []).map((level) => level.effort).join("/")
      yield* Console.log(
        `${model.slug.padEnd(16)} ${String(model.context_window ?? "?").padStart(7)} tokens  ${levels}${model.description ? `  — ${model.description}` : ""}`
      )
    }
  })
).pipe(
  Command.withDescription("List the models the Codex backend offers"),
  Command.withExamples([
    { command: "nexus models", description: "List the models and their reasoning efforts" },
    { command: "nexus models --account work --json", description: "One account's catalog, as JSON" }
  ]),
  Command.provide(ChatLive)
)
