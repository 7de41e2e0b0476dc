// The router processes of the fleet and their requests in flight per account, written by each
// process every few seconds (never per request), so that `nexus accounts` can show the fleet's.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE nexus.router_instances (
      instance text PRIMARY KEY,
      in_flight jsonb NOT NULL DEFAULT '{}',
      seen_at timestamptz NOT NULL DEFAULT now()
    )`
})
