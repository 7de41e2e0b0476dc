/**
 * @since 0.1.0
 */

/**
 * The OpenAI-compatible HTTP front on the router: routes and the server layer.
 *
 * @since 0.1.0
 */
export * as Gateway from "./Gateway.ts"

/**
 * The gateway's API keys and the usage recorded against them, in Postgres.
 *
 * @since 0.1.0
 */
export * as ApiKeys from "./ApiKeys.ts"

/**
 * Chat Completions requests as Codex turns, and turns as completions and chunks.
 *
 * @since 0.1.0
 */
export * as OpenAiChat from "./OpenAiChat.ts"

/**
 * Responses API requests as Codex turns, and turns as responses and stream events.
 *
 * @since 0.1.0
 */
export * as OpenAiResponses from "./OpenAiResponses.ts"

/**
 * Failures in the OpenAI error shape, with their status.
 *
 * @since 0.1.0
 */
export * as OpenAiError from "./OpenAiError.ts"

/**
 * The gateway's schema migrations.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"
