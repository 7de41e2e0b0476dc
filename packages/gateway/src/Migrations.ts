/**
 * The gateway's schema migrations (`nexus.gateway_keys`, `nexus.gateway_usage`), for the
 * migrations registry of `@nexus/database` (`nexus db migrate`).
 *
 * @since 0.1.0
 */
import type { Migrations } from "@nexus/database"
import { Migrator } from "effect/sql"
import keys from "./migrations/0001_keys.ts"

/**
 * The gateway's migrations, in order, and where they are recorded.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Migrations.PackageMigrations = {
  package: "@nexus/gateway",
  table: "nexus_gateway_migrations",
  loader: Migrator.fromRecord({ "0001_keys": keys })
}
