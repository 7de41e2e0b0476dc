/**
 * The token store's schema migrations (`nexus.oauth_tokens`), for the migrations registry of
 * `@nexus/database` (`nexus db migrate`). Applied migrations are recorded in `nexus_migrations`.
 *
 * @since 0.1.0
 */
import type { Migrations } from "@nexus/database"
import { Migrator } from "effect/sql"
import oauthTokens from "./migrations/0001_oauth_tokens.ts"

/**
 * The token store's migrations, in order, and where they are recorded.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Migrations.PackageMigrations = {
  package: "@nexus/token-store",
  table: "nexus_migrations",
  loader: Migrator.fromRecord({ "0001_oauth_tokens": oauthTokens })
}
