// Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, `nexus-worker` sends OTLP/HTTP JSON to it — one
// trace per request, from dequeue to publish, with no prompt or output text in it.
import { assert, layer } from "@effect/vitest"
import { LlmQueue } from "@nexus/queue-pgmq"
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fleetEnv, FleetLive, request, startWorker, stopped } from "./fleet.ts"

interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: unknown }>
}

/** A collector on loopback that keeps every span posted to /v1/traces. */
const collector = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; readonly spans: Array<Span>; readonly close: () => void }>((resolve) => {
        const spans: Array<Span> = []
        const server = createServer((req, res) => {
          let body = ""
          req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
          req.on("end", () => {
            if (req.url === "/v1/traces") {
              const data = JSON.parse(body) as {
                readonly resourceSpans: ReadonlyArray<{
                  readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<Span> }>
                }>
              }
              for (const resource of data.resourceSpans)
                for (const scope of resource.scopeSpans) spans.push(...scope.spans)
            }
            res.writeHead(200, { "content-type": "application/json" }).end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            spans,
            close: () => server.close()
          })
        )
      })
  ),
  (server) => Effect.sync(server.close)
)

layer(FleetLive, { excludeTestServices: true, timeout: 120_000 })("nexus-worker traces", (it) => {
  it.effect("one trace per request from dequeue to publish, without the prompt or the output", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const otlp = yield* collector
      const queue = yield* LlmQueue.LlmQueue
      const worker = yield* startWorker({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })
      const sent = [request("The first secret prompt"), request("The second secret prompt")]
      for (const entry of sent) {
        yield* queue.enqueue(entry)
        yield* queue.awaitResult(entry.id, { timeout: "20 seconds" })
      }
      // The exporter sends what it holds when the worker stops.
      assert.strictEqual((yield* stopped(worker)).code, 0)
      const handles = otlp.spans.filter((span) => span.name === "LlmQueue.handle")
      assert.lengthOf(handles, 2)
      assert.notStrictEqual(handles[0]!.traceId, handles[1]!.traceId)
      for (const handle of handles) {
        assert.isTrue(
          handle.parentSpanId === undefined || handle.parentSpanId === "",
          "a request's trace starts at dequeue"
        )
        const names = otlp.spans.filter((span) => span.traceId === handle.traceId).map((span) => span.name)
        for (const name of ["LlmQueue.complete", "Router.plan", "Router.attempt", "CodexClient.stream"]) {
          assert.include(names, name, `trace of ${handle.spanId}: ${names.join(", ")}`)
        }
      }
      const text = JSON.stringify(otlp.spans)
      assert.notInclude(text, "secret prompt")
      const ids = handles.flatMap((span) => span.attributes ?? []).filter((entry) => entry.key === "request_id")
      assert.sameMembers(
        ids.map((entry) => (entry.value as { readonly stringValue: string }).stringValue),
        sent.map((entry) => entry.id)
      )
    }).pipe(Effect.scoped)
  )
})
