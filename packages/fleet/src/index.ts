/**
 * @since 0.1.0
 */

/**
 * The worker: each request on `llm_requests` through the router to exactly one result.
 *
 * @since 0.1.0
 */
export * as Worker from "./Worker.ts"

/**
 * A queued request as the router's input; a routed turn as the request's result.
 *
 * @since 0.1.0
 */
export * as Turn from "./Turn.ts"

/**
 * What to do with a request whose turn failed: wait and try again, or answer.
 *
 * @since 0.1.0
 */
export * as Disposition from "./Disposition.ts"

/**
 * `/healthz`, `/readyz` and `/metrics` on a port.
 *
 * @since 0.1.0
 */
export * as Probes from "./Probes.ts"

/**
 * The worker's metrics.
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"
