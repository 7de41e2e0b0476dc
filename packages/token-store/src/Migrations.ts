/**
 * The Nexus schema migrations for tokens, run by the effect/sql Migrator (`nexus db migrate`, and
 * automatically by anything that needs the schema). Idempotent: applied migrations are recorded in
 * `nexus_migrations`, and concurrent runs wait for each other.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Migrator } from "effect/sql"
import oauthTokens from "./migrations/0001_oauth_tokens.ts"

/**
 * The migrations, in order.
 *
 * @since 0.1.0
 * @category migrations
 */
export const loader = Migrator.fromRecord({ "0001_oauth_tokens": oauthTokens })

/**
 * The table that records applied migrations.
 *
 * @since 0.1.0
 * @category migrations
 */
export const table = "nexus_migrations"

/**
 * Runs the pending migrations; answers the ones it applied.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = Migrator.make({})({ loader, table }).pipe(Effect.withSpan("Migrations.run"))
