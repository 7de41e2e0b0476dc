// Tracing provides no layer and needs none. Its spans are made only when the program has a tracer
// (Layer.setTracer, or an OTLP exporter as below); without one, traced(effect) is effect as it is.
import { Tracing } from "@nexus/telemetry"
import { Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"

// A hot path: a span per call when a tracer collects them, nothing otherwise.
const lookup = Tracing.fn("Inventory.lookup", (sku: string) => Effect.succeed({ sku, inStock: 3 }))

const program = Effect.gen(function* () {
  const item = yield* lookup("sku-42")
  yield* Tracing.traced(Effect.log(`${item.sku}: ${item.inStock} in stock`), "Inventory.report", { sku: item.sku })
})

const TracingLive = OtlpTracer.layer({
  url: "http://127.0.0.1:4318/v1/traces",
  resource: { serviceName: "inventory" }
}).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))

Effect.runFork(program.pipe(Effect.provide(TracingLive)))
