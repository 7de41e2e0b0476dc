// Gateway.layer serves the OpenAI API; it needs the Router, the ModelCatalog and ApiKeys. ApiKeys.layer
// needs a PgClient (and `nexus db migrate` run once). The router stack is the one of @nexus/router's
// README; `nexus serve` is this, configured from the environment.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Database } from "@nexus/database"
import { ApiKeys, Gateway } from "@nexus/gateway"
import { CodexClient } from "@nexus/provider-codex"
import { AccountPool, Router, RoutingPolicy } from "@nexus/router"
import { Credentials } from "@nexus/token-store"
import { Layer } from "effect"

const RouterLive = Router.Router.layer.pipe(
  Layer.provideMerge(AccountPool.AccountPool.layer),
  Layer.provideMerge(RoutingPolicy.RoutingPolicy.layer.pipe(Layer.provide(NodeFileSystem.layer))),
  Layer.provideMerge(CodexClient.CodexClient.layer), // also ModelCatalog and UsageWindows
  Layer.provideMerge(Credentials.Credentials.layerConfig), // also TokenStore
  Layer.provideMerge(Database.Database.layer)
)

const GatewayLive = Gateway.layer({ host: "127.0.0.1", port: 8480 }).pipe(
  Layer.provide(ApiKeys.ApiKeys.layer),
  Layer.provide(RouterLive)
)

NodeRuntime.runMain(Layer.launch(GatewayLive))
