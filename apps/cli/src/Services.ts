/**
 * The layers the commands provide, each only to the commands that need it, so that `nexus --help`
 * connects to nothing and reads no key.
 *
 * @since 0.1.0
 */
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { OAuthClient } from "@nexus/oauth"
import { CodexClient, ModelCatalog } from "@nexus/provider-codex"
import { Credentials, Crypto, TokenStore } from "@nexus/token-store"
import { Config, Effect, Layer, Option } from "effect"
import { Database } from "./Database.ts"

/**
 * The token store over the configured database (migrated on start) — Postgres, then the token
 * file, then the environment — with the key from `NEXUS_TOKEN_KEY` or the data dir; also exposes
 * the database.
 *
 * @since 0.1.0
 * @category layers
 */
export const StoreLive = TokenStore.TokenStore.layer.pipe(
  Layer.provide(Crypto.Crypto.layerConfig),
  Layer.provide(NodeFileSystem.layer),
  Layer.provideMerge(Database.layer)
)

/**
 * The OAuth client configured from `CODEX_ISSUER`, `CODEX_CLIENT_ID`, `CODEX_REDIRECT_URI`…
 *
 * @since 0.1.0
 * @category layers
 */
export const OAuthLive = OAuthClient.OAuthClient.layer

/**
 * The store and the OAuth client together (login, logout).
 *
 * @since 0.1.0
 * @category layers
 */
export const StoreAndOAuthLive = Layer.merge(StoreLive, OAuthLive)

/**
 * Credentials (fleet-wide refresh) over the store and the OAuth client.
 *
 * @since 0.1.0
 * @category layers
 */
export const CredentialsLive = Credentials.Credentials.layer.pipe(Layer.provideMerge(StoreAndOAuthLive))

/**
 * The Codex backend client over Credentials (`CODEX_BASE_URL`), with usage windows in Postgres.
 *
 * @since 0.1.0
 * @category layers
 */
export const ChatLive = CodexClient.CodexClient.layer.pipe(Layer.provideMerge(CredentialsLive))

/**
 * The model catalog over Credentials (`CODEX_BASE_URL`), kept in Postgres.
 *
 * @since 0.1.0
 * @category layers
 */
export const ModelsLive = Layer.unwrap(
  Effect.map(Config.option(Config.String("CODEX_BASE_URL")), (baseUrl) =>
    ModelCatalog.ModelCatalog.layer(Option.isSome(baseUrl) ? { baseUrl: baseUrl.value } : {})
  )
).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.provideMerge(CredentialsLive))
