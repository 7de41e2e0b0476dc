/**
 * The layers the commands provide, each only to the commands that need it, so that `nexus --help`
 * connects to nothing and reads no key; and the migrations registry `nexus db migrate` applies.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Database } from "@nexus/database"
import { ApiKeys, Migrations as GatewayMigrations } from "@nexus/gateway"
import { CodexClient, Migrations as ProviderMigrations, UsageWindows } from "@nexus/provider-codex"
import { LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import { AccountPool, Migrations as RouterMigrations, Router, RoutingPolicy } from "@nexus/router"
import { Credentials, Crypto, Migrations as TokenStoreMigrations, TokenStore } from "@nexus/token-store"
import { Layer } from "effect"

/**
 * Every package's migrations, in dependency order: what `nexus db migrate` applies.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations = [
  TokenStoreMigrations.migrations,
  ProviderMigrations.migrations,
  RouterMigrations.migrations,
  GatewayMigrations.migrations
]

/**
 * The configured database (`DATABASE_URL` or `NEXUS_DB_*`), checked on start.
 *
 * @since 0.1.0
 * @category layers
 */
export const DatabaseLive = Database.Database.layer

/**
 * The token store over the configured database — Postgres, then the token file, then the
 * environment — with the key from `NEXUS_TOKEN_KEY` or the data dir; also exposes the database.
 *
 * @since 0.1.0
 * @category layers
 */
export const StoreLive = TokenStore.TokenStore.layer.pipe(
  Layer.provide(Crypto.Crypto.layerConfig),
  Layer.provide(NodeFileSystem.layer),
  Layer.provideMerge(DatabaseLive)
)

/**
 * The store and the usage windows (status).
 *
 * @since 0.1.0
 * @category layers
 */
export const StoreAndUsageLive = Layer.provideMerge(UsageWindows.UsageWindows.layer, StoreLive)

/**
 * Credentials (fleet-wide refresh), the store and the OAuth client, configured from the
 * environment (`CODEX_ISSUER`, `CODEX_CLIENT_ID`, `NEXUS_TOKEN_KEY`…) over the database.
 *
 * @since 0.1.0
 * @category layers
 */
export const CredentialsLive = Credentials.Credentials.layerConfig.pipe(Layer.provideMerge(DatabaseLive))

/**
 * The Codex backend client over Credentials, configured from the environment (`CODEX_BASE_URL`,
 * `CODEX_ORIGINATOR`, `NEXUS_CODEX_*`, `NEXUS_MODEL_ALIASES`), with the usage windows and the model
 * catalog in Postgres.
 *
 * @since 0.1.0
 * @category layers
 */
export const ChatLive = CodexClient.CodexClient.layer.pipe(Layer.provideMerge(CredentialsLive))

/**
 * The routing policy of `NEXUS_ROUTER_CONFIG` (or the built-in one).
 *
 * @since 0.1.0
 * @category layers
 */
export const PolicyLive = RoutingPolicy.RoutingPolicy.layer.pipe(Layer.provide(NodeFileSystem.layer))

/**
 * The account pool (the store, the usage windows, the blocks, kept by LISTEN) and the policy.
 *
 * @since 0.1.0
 * @category layers
 */
export const PoolLive = AccountPool.AccountPool.layer.pipe(
  Layer.provideMerge(PolicyLive),
  Layer.provideMerge(StoreAndUsageLive)
)

/**
 * The router over the Codex client stack: plans and turns with fallbacks across the pool.
 *
 * @since 0.1.0
 * @category layers
 */
export const RouterLive = Router.Router.layer.pipe(
  Layer.provideMerge(AccountPool.AccountPool.layer),
  Layer.provideMerge(PolicyLive),
  Layer.provideMerge(ChatLive)
)

/**
 * The queue database (`SHARED_QUEUE_DB_URL`, else the Nexus database), checked on start.
 *
 * @since 0.1.0
 * @category layers
 */
export const QueueDatabaseLive = Database.QueueDatabase.layer.pipe(Layer.provideMerge(DatabaseLive))

/**
 * pgmq and the LLM request/result queue on the queue database.
 *
 * @since 0.1.0
 * @category layers
 */
export const QueueLive = Layer.mergeAll(LlmQueue.LlmQueue.layer, Pgmq.Pgmq.layer).pipe(
  Layer.provideMerge(QueueDatabaseLive)
)

/**
 * The gateway's API keys and usage over the configured database.
 *
 * @since 0.1.0
 * @category layers
 */
export const KeysLive = ApiKeys.ApiKeys.layer.pipe(Layer.provideMerge(DatabaseLive))

/**
 * What the gateway serves from: the router stack and the API keys.
 *
 * @since 0.1.0
 * @category layers
 */
export const GatewayServicesLive = Layer.provideMerge(ApiKeys.ApiKeys.layer, RouterLive)
