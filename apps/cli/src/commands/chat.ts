/**
 * `nexus chat "…"`: one turn with the Codex backend, streamed to the terminal as it arrives.
 *
 * @since 0.1.0
 */
import { CodexClient } from "@nexus/provider-codex"
import { Console, Effect, Option, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { resolveAccount } from "../internal/accounts.ts"
import { ChatLive } from "../Services.ts"

/**
 * `nexus chat`.
 *
 * @since 0.1.0
 * @category commands
 */
export const chat = Command.make(
  "chat",
  {
    message: Argument.String("message").pipe(Argument.withDescription("What to ask")),
    model: Flag.String("model").pipe(Flag.withDescription("The model (default gpt-5.5)"), Flag.withDefault("gpt-5.5")),
    system: Flag.String("system").pipe(
      Flag.withDescription("A system prompt (sent as a developer message)"),
      Flag.optional
    ),
    effort: Flag.Literals("effort", ["minimal", "low", "medium", "high", "xhigh"]).pipe(
      Flag.withDescription("Reasoning effort"),
      Flag.optional
    ),
    account: Flags.account,
    json: Flags.json("the whole result"),
    stream: Flag.Boolean("stream").pipe(
      Flag.withDescription("Print the text as it arrives (--no-stream: all at once)"),
      Flag.withDefault(true)
    )
  },
  Effect.fn("nexus.chat")(function* ({ message, model, system, effort, account, json, stream }) {
    const target = yield* resolveAccount("chat", account)
    const client = yield* CodexClient.CodexClient
    const request = {
      model,
      messages: [
        ...(Option.isSome(system) ? [{ role: "system" as const, content: system.value }] : []),
        { role: "user" as const, content: message }
      ],
      ...(Option.isSome(effort) ? { reasoningEffort: effort.value } : {})
    }
    if (json || !stream) {
      const result = yield* client.chat(request, target.tokens.accountId)
      if (json) return yield* Console.log(JSON.stringify(result, null, 2))
      return yield* Console.log(result.text)
    }
    yield* client
      .stream(request, target.tokens.accountId)
      .pipe(
        Stream.runForEach((event) =>
          event._tag === "TextDelta"
            ? Effect.sync(() => void process.stdout.write(event.delta))
            : event._tag === "Completed"
              ? Console.error(`\n(${event.usage.inputTokens} tokens in, ${event.usage.outputTokens} out)`)
              : Effect.void
        )
      )
  })
).pipe(Command.withDescription("Ask the Codex backend once, as a signed-in account"), Command.provide(ChatLive))
