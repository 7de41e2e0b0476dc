/**
 * The router's schema migrations (`nexus.account_blocks`, `nexus.model_cooldowns`,
 * `nexus.router_instances` and the `nexus_pool` notifications), for
 * the migrations registry of `@nexus/database` (`nexus db migrate`), after token-store's and
 * provider-codex's: its notifications are triggers on their tables.
 *
 * @since 0.1.0
 */
import type { Migrations } from "@nexus/database"
import { Migrator } from "effect/sql"
import pool from "./migrations/0001_pool.ts"
import cooldowns from "./migrations/0002_cooldowns.ts"
import instances from "./migrations/0003_instances.ts"

/**
 * The router's migrations, in order, and where they are recorded.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Migrations.PackageMigrations = {
  package: "@nexus/router",
  table: "nexus_router_migrations",
  loader: Migrator.fromRecord({ "0001_pool": pool, "0002_cooldowns": cooldowns, "0003_instances": instances })
}
