/**
 * The queue database's migrations, for the migrations registry of `@nexus/database`
 * (`nexus db migrate` runs them on the queue database: `SHARED_QUEUE_DB_URL`, else the Nexus
 * database): pgmq (the extension or Nexus's compatible install), then the LLM contract's queues.
 *
 * @since 0.1.0
 */
import type { Migrations } from "@nexus/database"
import { Migrator } from "effect/sql"
import pgmq from "./migrations/0001_pgmq.ts"
import llmQueues from "./migrations/0002_llm_queues.ts"

/**
 * The queue migrations, in order, and where they are recorded.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Migrations.PackageMigrations = {
  package: "@nexus/queue-pgmq",
  table: "nexus_queue_migrations",
  loader: Migrator.fromRecord({ "0001_pgmq": pgmq, "0002_llm_queues": llmQueues })
}
