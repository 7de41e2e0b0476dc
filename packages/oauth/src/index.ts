/**
 * @since 0.1.0
 */

/**
 * Typed failures of signing in.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"

/**
 * Where and as whom to sign in.
 *
 * @since 0.1.0
 */
export * as OAuthConfig from "./OAuthConfig.ts"

/**
 * The sign-in service: browser, device code, refresh, revoke.
 *
 * @since 0.1.0
 */
export * as OAuthClient from "./OAuthClient.ts"

/**
 * A signed-in account's tokens and identity.
 *
 * @since 0.1.0
 */
export * as TokenSet from "./TokenSet.ts"

/**
 * Import of credentials the Codex CLI or a seed file already holds.
 *
 * @since 0.1.0
 */
export * as CredentialImport from "./CredentialImport.ts"
