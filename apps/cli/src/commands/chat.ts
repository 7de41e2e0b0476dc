/**
 * `nexus chat "…"`: one turn with the Codex backend, streamed to the terminal as it arrives, on
 * the model and account the router chooses (or the ones given); says which answered.
 *
 * @since 0.1.0
 */
import { type ChatEvent, type CodexClient, Errors } from "@nexus/provider-codex"
import { type Route, Router } from "@nexus/router"
import { Console, Effect, Option, Stream } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { firstLine } from "../internal/format.ts"
import { promptOf } from "../internal/prompt.ts"
import { RouterLive } from "../Services.ts"
import { requestFlags, routeRequest } from "./route.ts"

/**
 * `nexus chat`.
 *
 * @since 0.1.0
 * @category commands
 */
export const chat = Command.make(
  "chat",
  {
    message: Argument.String("message").pipe(
      Argument.withDescription("What to ask; - reads it from stdin"),
      Argument.optional
    ),
    file: Flag.String("file").pipe(Flag.withDescription("Read what to ask from this file"), Flag.optional),
    ...requestFlags,
    model: Flag.String("model").pipe(
      Flag.withDescription("Pin the model (a slug or an alias); by default the routing policy chooses"),
      Flag.optional
    ),
    system: Flag.String("system").pipe(
      Flag.withDescription("A system prompt (sent as a developer message)"),
      Flag.optional
    ),
    account: Flag.String("account").pipe(
      Flag.withDescription("Pin the account (id or label); by default the router chooses one with room"),
      Flag.optional
    ),
    json: Flags.json("the whole result, with the route it took"),
    stream: Flag.Boolean("stream").pipe(
      Flag.withDescription("Print the text as it arrives (--no-stream: all at once)"),
      Flag.withDefault(true)
    )
  },
  Effect.fn("nexus.chat")(function* (input) {
    const prompt = yield* promptOf(input.message, input.file)
    const router = yield* Router.Router
    const conversation = {
      messages: [
        ...(Option.isSome(input.system) ? [{ role: "system" as const, content: input.system.value }] : []),
        { role: "user" as const, content: prompt }
      ]
    }
    const request = routeRequest(input)
    const progress = retryProgress()
    const options = { onRetry: progress.show }
    if (input.json || !input.stream) {
      const { result, route } = yield* router
        .execute(request, conversation, options)
        .pipe(Effect.ensuring(progress.clear))
      if (input.json) return yield* Console.log(JSON.stringify({ ...result, route }, null, 2))
      yield* Console.log(result.text)
      return yield* Console.error(summaryLine(route.served, result.usage))
    }
    let last = ""
    let served: Route.Attempt | undefined
    yield* router.stream(request, conversation, options).pipe(
      Stream.ensuring(progress.clear),
      Stream.runForEach((event) => {
        switch (event._tag) {
          case "RouteChosen":
            return Effect.sync(() => {
              served = event.route.served
            })
          case "TextDelta":
            return Effect.andThen(
              progress.clear,
              Effect.sync(() => {
                last = event.delta
                process.stdout.write(event.delta)
              })
            )
          case "Completed":
            return Effect.andThen(
              // The reply ends with a newline, so that a shell prompt or a pipe reader gets a whole line.
              Effect.sync(() => void (last.endsWith("\n") ? undefined : process.stdout.write("\n"))),
              Console.error(summaryLine(served, event.usage))
            )
          default:
            return Effect.void
        }
      })
    )
  })
).pipe(
  Command.withDescription(
    "Ask the Codex backend once, on the model and account the router chooses (or the ones given)"
  ),
  Command.withExamples([
    { command: 'nexus chat "Summarise RFC 8628 in one line"', description: "Ask, streaming the reply" },
    { command: "git diff | nexus chat --task reviewer -", description: "Ask with the prompt from stdin" },
    {
      command: "nexus chat --file prompt.md --no-stream --complexity complex",
      description: "Ask with the prompt from a file"
    }
  ]),
  Command.validate(({ message, file }) =>
    Option.isSome(message) && Option.isSome(file)
      ? Effect.fail(
          new CliError.ValidationError({ message: "give the prompt as an argument or with --file, not both" })
        )
      : Option.isNone(message) && Option.isNone(file)
        ? Effect.fail(
            new CliError.ValidationError({
              message: 'say what to ask: nexus chat "…", nexus chat - (stdin) or nexus chat --file PATH'
            })
          )
        : Effect.void
  ),
  Command.provide(RouterLive)
)

/** Who answered, and the tokens it took: "(gpt-5.5 on work: 12 tokens in, 5 out)". */
const summaryLine = (served: Route.Attempt | undefined, usage: ChatEvent.Usage | undefined) => {
  const who = served === undefined ? "" : `${served.model} on ${served.label ?? served.accountId}`
  const tokens = usage === undefined ? "" : tokenLine(usage.inputTokens, usage.outputTokens)
  return `(${[who, tokens].filter((part) => part.length > 0).join(": ")})`
}

const tokenLine = (input: number, output: number) => `${input} tokens in, ${output} out`

/**
 * On a terminal, one line on stderr that says why nothing is happening while the client waits to
 * retry, rewritten at each retry and erased when the reply starts; elsewhere nothing (the wait is
 * in the debug log).
 */
const retryProgress = () => {
  let shown = false
  const tty = process.stderr.isTTY === true
  return {
    show: (retry: CodexClient.Retry) =>
      Effect.sync(() => {
        if (!tty) return
        const reason = firstLine(retry.error.message)
        const line = `retrying in ${Errors.humanDelay(retry.delay)} (attempt ${retry.attempt + 1} of ${retry.of}): ${reason}`
        process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`)
        shown = true
      }),
    clear: Effect.sync(() => {
      if (!shown) return
      process.stderr.write("\r\x1b[2K")
      shown = false
    })
  }
}
