/**
 * Scratch PostgreSQL databases for tests, one per layer, migrated on creation and dropped afterwards.
 *
 * @since 0.1.0
 * @category modules
 */
export * as TestDatabase from "./TestDatabase.ts"

/**
 * Free loopback ports.
 *
 * @since 0.1.0
 */
export * as Ports from "./Ports.ts"

/**
 * Spans recorded for a test.
 *
 * @since 0.1.0
 */
export * as RecordedSpans from "./RecordedSpans.ts"

/**
 * The machine's npm settings, for tests that run npm.
 *
 * @since 0.1.0
 */
export * as Npm from "./Npm.ts"

/**
 * @since 0.1.0
 */
export * as Bundles from "./Bundles.ts"
