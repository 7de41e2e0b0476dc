/**
 * @since 0.1.0
 */

/**
 * Spans on hot paths, made only when a tracer collects them.
 *
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.ts"
