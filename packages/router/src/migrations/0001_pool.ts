// The pool's shared state (design §5): the accounts a usage limit blocked, until when; and one
// notification channel, `nexus_pool`, on which every change the router reads is announced — to
// the blocks, the usage windows (provider-codex's table) and the sign-ins (token-store's) — so
// that every router process updates its in-memory pool within a second, without a query per
// request. The payload is `<table>:<account id>`.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS nexus`
  yield* sql`
    CREATE TABLE nexus.account_blocks (
      account_id text PRIMARY KEY,
      blocked_until timestamptz NOT NULL,
      reason text NOT NULL,
      observed_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE FUNCTION nexus.pool_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('nexus_pool', TG_TABLE_NAME || ':' || OLD.account_id);
      ELSE
        PERFORM pg_notify('nexus_pool', TG_TABLE_NAME || ':' || NEW.account_id);
      END IF;
      RETURN NULL;
    END $$`
  for (const table of ["account_blocks", "usage_windows", "oauth_tokens"]) {
    yield* sql.unsafe(`
      CREATE TRIGGER ${table}_pool_notify AFTER INSERT OR UPDATE OR DELETE ON nexus.${table}
      FOR EACH ROW EXECUTE FUNCTION nexus.pool_notify()`)
  }
})
