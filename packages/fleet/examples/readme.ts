// Worker.layer(settings) provides Worker and needs LlmQueue and Router; Probes.layer serves /healthz,
// /readyz and /metrics and needs Pgmq and AccountPool. nexus-worker passes them as `stack`: the
// queue layers of @nexus/queue-pgmq and the router's of @nexus/router, over the database.
import { Probes, Worker } from "@nexus/fleet"
import type { LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import type { AccountPool, Router } from "@nexus/router"
import { Deferred, Effect, Exit, Layer } from "effect"

type Needs = LlmQueue.LlmQueue | Router.Router | Pgmq.Pgmq | AccountPool.AccountPool

export const serve = <E>(stack: Layer.Layer<Needs, E>) =>
  Effect.gen(function* () {
    const stop = yield* Deferred.make<void>()
    process.once("SIGTERM", () => Deferred.doneUnsafe(stop, Exit.void))
    const worker = yield* Worker.Worker
    yield* worker.run(Deferred.await(stop)) // then the requests in hand get `grace` to finish
  }).pipe(
    Effect.provide(
      Worker.Worker.layer({ ...Worker.defaults, concurrency: 32 }).pipe(
        Layer.provideMerge(Probes.layer({ port: 9480, host: "127.0.0.1" })),
        Layer.provide(stack)
      )
    )
  )
