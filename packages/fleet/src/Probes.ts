/**
 * The worker's HTTP probes on one port: `/healthz` (the process is up), `/readyz` (the queue
 * database answers and at least one account can serve) and `/metrics` (every Effect metric of the
 * process in the Prometheus text format, with the queue's depth and each account's usage windows
 * read at the scrape).
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Contract, Pgmq } from "@nexus/queue-pgmq"
import { AccountPool } from "@nexus/router"
import { Clock, Effect, Layer, Metric } from "effect"
import { HttpRouter, HttpServer, type HttpServerError, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import * as Metrics from "./Metrics.ts"

/**
 * Where the probes listen.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** 0: any free port (the log says which). */
  readonly port: number
  readonly host: string
}

/** The accounts, usable or not (signed in, not blocked by a usage limit), from the pool's memory. */
const accounts = Effect.gen(function* () {
  const pool = yield* AccountPool.AccountPool
  const state = yield* pool.state
  const now = yield* Clock.currentTimeMillis
  return state.accounts.map((account) => ({
    account,
    usable: account.status === "active" && (state.blocks.get(account.accountId) ?? 0) <= now,
    windows: state.windows.get(account.accountId) ?? []
  }))
})

const readyz = Effect.gen(function* () {
  const pgmq = yield* Pgmq.Pgmq
  const database = yield* Effect.match(pgmq.metrics(Contract.REQUESTS), {
    onFailure: (error) => ({ ok: false, detail: error.message }),
    onSuccess: () => ({ ok: true, detail: "reachable" })
  })
  const known = yield* accounts
  const usable = known.filter((entry) => entry.usable).length
  const ready = database.ok && usable > 0
  return HttpServerResponse.jsonUnsafe(
    {
      ready,
      database: database.detail,
      accounts: {
        usable,
        total: known.length,
        ...(usable > 0
          ? {}
          : {
              detail:
                known.length === 0
                  ? "no account is signed in: run `nexus login`"
                  : "every account needs a sign-in (`nexus login`) or is at its usage limit"
            })
      }
    },
    { status: ready ? 200 : 503 }
  )
})

const metrics = Effect.gen(function* () {
  const pgmq = yield* Pgmq.Pgmq
  // A scrape while the database is away still answers, with the figures read last time.
  yield* Effect.ignore(
    Effect.flatMap(pgmq.metrics(Contract.REQUESTS), (queue) =>
      Effect.all([
        Metric.update(
          Metric.withAttributes(Metrics.queueLength, { queue: Contract.REQUESTS }),
          Number(queue.queueLength)
        ),
        Metric.update(
          Metric.withAttributes(Metrics.oldestAge, { queue: Contract.REQUESTS }),
          queue.oldestMsgAgeSec ?? 0
        )
      ])
    )
  )
  for (const entry of yield* accounts) {
    const account = entry.account.label ?? entry.account.accountId
    yield* Metric.update(Metric.withAttributes(Metrics.accountUsable, { account }), entry.usable ? 1 : 0)
    for (const window of entry.windows) {
      yield* Metric.update(
        Metric.withAttributes(Metrics.windowUsed, { account, window: `${window.windowMinutes}m` }),
        window.usedPercent
      )
    }
  }
  const memory = process.memoryUsage()
  yield* Metric.update(Metrics.residentMemory, memory.rss)
  yield* Metric.update(Metrics.heapUsed, memory.heapUsed)
  yield* Metric.update(Metrics.externalMemory, memory.external + memory.arrayBuffers)
  return HttpServerResponse.text(yield* PrometheusMetrics.format(), {
    contentType: "text/plain; version=0.0.4; charset=utf-8"
  })
})

const routes = HttpRouter.addAll([
  HttpRouter.route("GET", "/healthz", HttpServerResponse.jsonUnsafe({ ok: true })),
  HttpRouter.route("GET", "/readyz", readyz),
  HttpRouter.route("GET", "/metrics", metrics)
])

/**
 * The probes' server, for as long as the layer lives; logs the address it listens on.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<never, HttpServerError.ServeError, Pgmq.Pgmq | AccountPool.AccountPool> =>
  HttpRouter.serve(routes, { disableLogger: true }).pipe(
    Layer.merge(
      Layer.effectDiscard(
        HttpServer.addressFormattedWith((address) => Effect.logInfo("probes listening", { url: address }))
      )
    ),
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
