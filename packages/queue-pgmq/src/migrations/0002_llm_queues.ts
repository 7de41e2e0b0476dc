// The queues of the LLM request/result contract (design §4): requests, the default reply queue and
// the dead letters. Reply queues of other names are created by the clients that name them.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  for (const queue of ["llm_requests", "llm_results", "llm_requests_dlq"]) {
    yield* sql`SELECT pgmq.create(${queue}::text)`
  }
})
