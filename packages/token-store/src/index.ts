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
 * The token store's typed failures.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"

/**
 * The token file (NEXUS_TOKEN_FILE), written atomically with mode 0600.
 *
 * @since 0.1.0
 */
export * as FileStore from "./FileStore.ts"

/**
 * The environment as a read-only token source.
 *
 * @since 0.1.0
 */
export * as EnvStore from "./EnvStore.ts"

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

/**
 * Re-encryption of every stored token under the current key.
 *
 * @since 0.1.0
 */
export * as KeyRotation from "./KeyRotation.ts"
