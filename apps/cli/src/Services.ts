/**
 * The layers the commands provide, each only to the commands that need it, so that `nexus --help`
 * connects to nothing and reads no key.
 *
 * @since 0.1.0
 */
import { NodeFileSystem } from "@effect/platform-node"
import { OAuthClient } from "@nexus/oauth"
import { CodexClient } from "@nexus/provider-codex"
import { Credentials, Crypto, TokenStore } from "@nexus/token-store"
import { Layer } from "effect"
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
 * The Codex backend client over Credentials, configured from the environment (`CODEX_BASE_URL`,
 * `CODEX_ORIGINATOR`, `NEXUS_CODEX_*`, `NEXUS_MODEL_ALIASES`), with the usage windows and the model
 * catalog in Postgres.
 *
 * @since 0.1.0
 * @category layers
 */
export const ChatLive = CodexClient.CodexClient.layer.pipe(Layer.provideMerge(CredentialsLive))
