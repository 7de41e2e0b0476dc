/**
 * @since 0.1.0
 */

/**
 * Encryption at rest (AES-256-GCM under NEXUS_TOKEN_KEY).
 *
 * @since 0.1.0
 */
export * as Crypto from "./Crypto.ts"

/**
 * The stored sign-ins.
 *
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.ts"

/**
 * A valid access token on demand, refreshed once fleet-wide.
 *
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.ts"

/**
 * The schema migrations.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"
