/**
 * The provider's schema migrations (`nexus.usage_windows`, `nexus.models`), for the migrations
 * registry of `@nexus/database` (`nexus db migrate`). They are recorded in their own table, so that
 * package-local ids never collide with another package's.
 *
 * @since 0.1.0
 */
import type { Migrations } from "@nexus/database"
import { Migrator } from "effect/sql"
import usageAndModels from "./migrations/0001_usage_and_models.ts"

/**
 * The provider's migrations, in order, and where they are recorded.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Migrations.PackageMigrations = {
  package: "@nexus/provider-codex",
  table: "nexus_provider_codex_migrations",
  loader: Migrator.fromRecord({ "0001_usage_and_models": usageAndModels })
}
