/**
 * Spans recorded for a test: a tracer that keeps every span it makes, installed for one effect.
 *
 * @since 0.1.0
 */
import { Effect, Tracer } from "effect"

/**
 * Runs `effect` with a tracer that keeps every span it makes; answers its result and the spans,
 * in the order they started.
 *
 * @since 0.1.0
 * @category tracing
 */
export const withRecordedSpans = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly result: A; readonly spans: ReadonlyArray<Tracer.NativeSpan> }, E, R> =>
  Effect.suspend(() => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span: (options) => {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    return Effect.map(Effect.withTracer(effect, tracer), (result) => ({ result, spans }))
  })
