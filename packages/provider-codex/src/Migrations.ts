/**
 * The provider's migrations (`nexus.usage_windows`, `nexus.models`), run by the effect/sql
 * Migrator. Each package records its own migrations in its own table, so that package-local ids
 * never collide.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Migrator } from "effect/sql"
import usageAndModels from "./migrations/0001_usage_and_models.ts"

/**
 * The migrations, in order.
 *
 * @since 0.1.0
 * @category migrations
 */
export const loader = Migrator.fromRecord({ "0001_usage_and_models": usageAndModels })

/**
 * Runs the pending migrations; answers the ones it applied.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = Migrator.make({})({ loader, table: "nexus_provider_codex_migrations" }).pipe(
  Effect.withSpan("ProviderCodexMigrations.run")
)
