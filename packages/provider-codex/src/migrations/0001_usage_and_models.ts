// The provider's tables (design §5): usage windows per account and limit, and the model registry.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS nexus`
  yield* sql`
    CREATE TABLE nexus.usage_windows (
      account_id text NOT NULL,
      limit_id text NOT NULL DEFAULT 'codex',
      window_minutes integer NOT NULL,
      used_percent double precision NOT NULL,
      resets_at timestamptz,
      plan_type text,
      observed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (account_id, limit_id, window_minutes)
    )`
  yield* sql`
    CREATE TABLE nexus.models (
      slug text PRIMARY KEY,
      context_window integer,
      reasoning_levels text[] NOT NULL DEFAULT '{}',
      default_reasoning_level text,
      plans text[] NOT NULL DEFAULT '{}',
      source text NOT NULL CHECK (source IN ('upstream', 'bundled', 'config')),
      etag text,
      info jsonb,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
})
