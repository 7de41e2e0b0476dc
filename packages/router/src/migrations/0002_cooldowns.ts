// Cooldowns shared by the fleet: an (account, model) pair that failed repeatedly in one process
// (rate limits, an unavailable backend, after the client's own retries) is skipped by every
// process until the cooldown ends, announced on `nexus_pool` like the blocks.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE nexus.model_cooldowns (
      account_id text NOT NULL,
      model text NOT NULL,
      cooled_until timestamptz NOT NULL,
      observed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (account_id, model)
    )`
  yield* sql`
    CREATE TRIGGER model_cooldowns_pool_notify AFTER INSERT OR UPDATE OR DELETE ON nexus.model_cooldowns
    FOR EACH ROW EXECUTE FUNCTION nexus.pool_notify()`
})
