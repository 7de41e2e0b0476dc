// The gateway's API keys and what each one used (design §5 grows by these two tables). A key is
// stored as the SHA-256 of its text — keys are 192 random bits, so a fast hash is as safe as a slow
// one and keeps verification off the latency budget — with a short prefix to recognise it by. A
// name is unique among the keys not revoked. Usage is one row per request, written in batches.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS nexus`
  yield* sql`
    CREATE TABLE nexus.gateway_keys (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      prefix text NOT NULL,
      key_hash bytea NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz,
      last_used_at timestamptz
    )`
  yield* sql`CREATE UNIQUE INDEX gateway_keys_live_name ON nexus.gateway_keys (name) WHERE revoked_at IS NULL`
  yield* sql`
    CREATE TABLE nexus.gateway_usage (
      id bigserial PRIMARY KEY,
      key_id uuid NOT NULL REFERENCES nexus.gateway_keys (id) ON DELETE CASCADE,
      at timestamptz NOT NULL DEFAULT now(),
      endpoint text NOT NULL,
      status integer NOT NULL,
      model text,
      account_id text,
      input_tokens integer NOT NULL DEFAULT 0,
      cached_tokens integer NOT NULL DEFAULT 0,
      output_tokens integer NOT NULL DEFAULT 0,
      reasoning_tokens integer NOT NULL DEFAULT 0
    )`
  yield* sql`CREATE INDEX gateway_usage_key_at ON nexus.gateway_usage (key_id, at)`
})
