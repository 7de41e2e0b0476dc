/**
 * Spans on hot paths, made only when a tracer collects them.
 *
 * Without a tracer of its own (`Layer.setTracer`, an OTLP exporter…) a program runs on Effect's
 * native tracer, which keeps its spans nowhere. Yet a span that parents what runs inside it costs
 * a Codex turn up to a tenth of the client's CPU (the span, a new fiber context and its cache:
 * about 4 KB allocated per turn; `./dev bench:codex-client` prints the figure as "tracing on"), and
 * a routing plan a fifth of its time, a pgmq call up to a fifth of its loopback round trip (with
 * `Effect.fn`'s call-site stack). So `CodexClient`, the router, `Pgmq` and `LlmQueue` make their hot
 * spans when a tracer is installed, and skip them, with no other difference, when none is.
 *
 * @since 0.1.0
 */
import { Effect, type Tracer } from "effect"

/**
 * `effect` in a span named `name` that parents what runs inside it, when a tracer collects spans;
 * `effect` as it is otherwise.
 *
 * @since 0.1.0
 * @category tracing
 */
export const traced = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  attributes?: Record<string, unknown>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    fiber.cache.tracer === undefined
      ? effect
      : Effect.withSpan(effect, name, { captureStackTrace: false, ...(attributes ? { attributes } : {}) })
  )

/**
 * A span made by hand (ended by its maker), or `undefined` when no tracer collects spans.
 *
 * @since 0.1.0
 * @category tracing
 */
export const makeSpan = (name: string, attributes: Record<string, unknown>): Effect.Effect<Tracer.Span | undefined> =>
  Effect.withFiber((fiber) =>
    fiber.cache.tracer === undefined ? Effect.undefined : Effect.makeSpan(name, { attributes })
  )

/**
 * `f` with each call {@link traced} as `name`: `Effect.fn(name)` for hot paths.
 *
 * @since 0.1.0
 * @category tracing
 */
export const fn =
  <Args extends ReadonlyArray<unknown>, A, E, R>(name: string, f: (...args: Args) => Effect.Effect<A, E, R>) =>
  (...args: Args): Effect.Effect<A, E, R> =>
    traced(f(...args), name)
