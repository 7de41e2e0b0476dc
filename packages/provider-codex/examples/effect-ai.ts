// effect/ai on a ChatGPT subscription: CodexLanguageModel.layer provides LanguageModel and needs
// CodexClient, which CodexClient.layer gives on the same stack as readme.ts (Credentials and a
// PgClient below it). A plain answer first, then a Chat that calls a tool until it can answer.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Database } from "@nexus/database"
import { CodexClient, CodexLanguageModel } from "@nexus/provider-codex"
import { Credentials, TokenStore } from "@nexus/token-store"
import { Effect, Layer, Schema } from "effect"
import { Chat, LanguageModel, Tool, Toolkit } from "effect/ai"

const LocalTime = Tool.make("LocalTime", {
  description: "The current local time in an IANA time zone, e.g. Asia/Tokyo",
  parameters: Schema.Struct({ timeZone: Schema.String }),
  success: Schema.String
})

const Tools = Toolkit.make(LocalTime)

const ToolsLive = Tools.toLayer({
  LocalTime: ({ timeZone }) => Effect.sync(() => new Date().toLocaleTimeString("en-GB", { timeZone }))
})

const CodexLive = CodexClient.CodexClient.layer.pipe(
  Layer.provideMerge(Credentials.Credentials.layerConfig), // also TokenStore
  Layer.provideMerge(Database.Database.layer)
)

const conversation = Effect.gen(function* () {
  const hello = yield* LanguageModel.generateText({ prompt: "Say hello in French, in five words at most." })
  yield* Effect.log(hello.text, hello.usage)

  const chat = yield* Chat.fromPrompt([{ role: "user", content: "What time is it in Tokyo right now?" }])
  const tools = yield* Tools
  // Each turn with calls runs their handlers; the Chat keeps the results for the next turn.
  for (let turn = 0; turn < 4; turn++) {
    const response = yield* chat.generateText({ prompt: [], toolkit: tools })
    if (response.toolCalls.length === 0) return yield* Effect.log(response.text)
  }
})

const program = Effect.gen(function* () {
  const { tokens } = yield* (yield* TokenStore.TokenStore).get("acme-pro") // a label, resolved once
  yield* conversation.pipe(
    Effect.provide(CodexLanguageModel.layer({ model: "gpt-5.5", account: tokens.accountId, reasoningEffort: "low" }))
  )
})

NodeRuntime.runMain(program.pipe(Effect.provide([ToolsLive, CodexLive])))
