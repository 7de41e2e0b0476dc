/**
 * The worker's metrics (Effect `Metric`s, served in the Prometheus format on `/metrics`). With
 * the router's (`nexus_router_*`), the queue's (`nexus_queue_*`) and the token store's
 * (`nexus_token_*`) they describe the whole process.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("nexus_worker_requests_total", {
  description: "Requests answered with a result, by status (ok, error) and error tag"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const putOff = Metric.counter("nexus_worker_put_off_total", {
  description: "Requests put back on the queue to try again later, by why (backoff, usage_limit)"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const inFlight = Metric.gauge("nexus_worker_in_flight", {
  description: "Requests this process holds (streaming, or finishing)"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const duration = Metric.histogram("nexus_worker_request_duration_seconds", {
  description: "From pick-up to result, per delivery that ended in a result",
  boundaries: Metric.exponentialBoundaries({ start: 0.005, factor: 2, count: 16 })
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const lag = Metric.histogram("nexus_worker_queue_lag_seconds", {
  description: "From enqueue to pick-up, per delivery",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 20 })
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const queueLength = Metric.gauge("nexus_queue_length", {
  description: "Messages on the queue (visible or not), read at each scrape"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const oldestAge = Metric.gauge("nexus_queue_oldest_message_age_seconds", {
  description: "Age of the oldest message on the queue, read at each scrape"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const windowUsed = Metric.gauge("nexus_account_usage_used_percent", {
  description: "An account's usage window, as the fleet last observed it, by account and window"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const accountUsable = Metric.gauge("nexus_account_usable", {
  description: "1 when the account is signed in and not blocked by a usage limit, else 0"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident memory of the process, read at each scrape"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", {
  description: "V8 heap in use, read at each scrape"
})

/**
 * @since 0.1.0
 * @category metrics
 */
export const externalMemory = Metric.gauge("nodejs_external_memory_bytes", {
  description: "Memory held outside the V8 heap (buffers), read at each scrape"
})
