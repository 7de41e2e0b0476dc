// Router.layer provides Router; it needs RoutingPolicy, AccountPool, ModelCatalog and CodexClient.
// RoutingPolicy.layer needs a FileSystem (it reads NEXUS_ROUTER_CONFIG when set); AccountPool.layer
// needs TokenStore, UsageWindows, RoutingPolicy and a PgClient. The layers below give them all.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Database } from "@nexus/database"
import { CodexClient } from "@nexus/provider-codex"
import { AccountPool, Router, RoutingPolicy } from "@nexus/router"
import { Credentials } from "@nexus/token-store"
import { Effect, Layer } from "effect"

const RouterLive = Router.Router.layer.pipe(
  Layer.provideMerge(AccountPool.AccountPool.layer),
  Layer.provideMerge(RoutingPolicy.RoutingPolicy.layer.pipe(Layer.provide(NodeFileSystem.layer))),
  Layer.provideMerge(CodexClient.CodexClient.layer), // also ModelCatalog and UsageWindows
  Layer.provideMerge(Credentials.Credentials.layerConfig), // also TokenStore
  Layer.provideMerge(Database.Database.layer)
)

const program = Effect.gen(function* () {
  const router = yield* Router.Router
  const { result, route } = yield* router.execute(
    { taskType: "code_generation", complexity: "complex", promptCacheKey: "conversation-42" },
    { messages: [{ role: "user", content: "Write a binary search in TypeScript" }] }
  )
  yield* Effect.log(`${route.served.model} on ${route.served.label ?? route.served.accountId}`, result.text)
})

NodeRuntime.runMain(program.pipe(Effect.provide(RouterLive)))
