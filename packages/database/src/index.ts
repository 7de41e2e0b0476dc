/**
 * @since 0.1.0
 */

/**
 * The Nexus database and the queue database: configuration and checked `PgClient` layers.
 *
 * @since 0.1.0
 */
export * as Database from "./Database.ts"

/**
 * The embedded PostgreSQL server: the database when none is configured.
 *
 * @since 0.1.0
 */
export * as Embedded from "./Embedded.ts"

/**
 * The database's typed failures.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"

/**
 * The one migrations registry, and the schema check the layers run instead of migrating.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"
