/**
 * @since 0.1.0
 */

/**
 * The chat request and its mapping to the Responses request the Codex backend expects.
 *
 * @since 0.1.0
 */
export * as ChatRequest from "./ChatRequest.ts"

/**
 * The typed events a streamed reply is decoded into.
 *
 * @since 0.1.0
 */
export * as ChatEvent from "./ChatEvent.ts"

/**
 * Everything a turn can fail with, and whether (and when) trying again may help.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"

/**
 * The Codex backend client: chat and stream with 401 recovery, limits and bounded retries.
 *
 * @since 0.1.0
 */
export * as CodexClient from "./CodexClient.ts"

/**
 * The provider's schema migrations.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"

/**
 * The accounts' usage windows, shared by the fleet in Postgres.
 *
 * @since 0.1.0
 */
export * as UsageWindows from "./UsageWindows.ts"

/**
 * The model catalog: upstream with ETag caching, the bundled list as fallback, aliases.
 *
 * @since 0.1.0
 */
export * as ModelCatalog from "./ModelCatalog.ts"

/**
 * The ChatGPT Codex backend as an `effect/ai` LanguageModel: text, streams, objects and tool calls.
 *
 * @since 0.1.0
 */
export * as CodexLanguageModel from "./CodexLanguageModel.ts"
