/**
 * `nexus worker` (and the `nexus-worker` binary, the same command): serves `llm_requests` until
 * stopped. Every setting comes from a flag or its environment variable (the flag wins), with the
 * defaults `--help` shows; the database, the Codex backend and the accounts are configured as for
 * every other command (`DATABASE_URL`, `SHARED_QUEUE_DB_URL`, `CODEX_*`, `NEXUS_TOKEN_KEY`…).
 *
 * The first SIGTERM or SIGINT stops reading, lets the requests in hand finish within the grace
 * period, puts the rest back and exits 0; a second one exits at once (the requests in hand come
 * back after their visibility timeout).
 *
 * @since 0.1.0
 */
import { Probes, Worker } from "@nexus/fleet"
import { ApiKeys, Gateway } from "@nexus/gateway"
import { Config, Deferred, Duration, Effect, Layer, Logger, Option } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import packageJson from "../../package.json" with { type: "json" }
import { integer, number, setting } from "../internal/flags.ts"
import { ownSignals } from "../internal/signals.ts"
import { QueueLive, RouterLive } from "../Services.ts"

const flags = {
  concurrency: setting(
    Flag.Int("concurrency"),
    "NEXUS_WORKER_CONCURRENCY",
    integer,
    Worker.defaults.concurrency,
    "Requests streamed at once by this process"
  ),
  visibilityTimeout: setting(
    Flag.Int("visibility-timeout"),
    "NEXUS_WORKER_VISIBILITY_TIMEOUT",
    integer,
    Worker.defaults.visibilityTimeout,
    "Seconds a request stays invisible to other workers once read (extended while it streams; after a crash, the time before another worker takes it)"
  ),
  pollInterval: setting(
    Flag.Int("poll-interval"),
    "NEXUS_WORKER_POLL_INTERVAL",
    integer,
    Worker.defaults.pollSeconds,
    "Seconds between reads when no insert notification comes (an idle worker's one query)"
  ),
  maxAttempts: setting(
    Flag.Int("max-attempts"),
    "NEXUS_WORKER_MAX_ATTEMPTS",
    integer,
    Worker.defaults.retry.maxAttempts,
    "Deliveries of a request before a retryable failure becomes its result"
  ),
  backoff: setting(
    Flag.Finite("backoff"),
    "NEXUS_WORKER_BACKOFF",
    number,
    Duration.toSeconds(Worker.defaults.retry.backoffBase),
    "Seconds before the first retry, doubled at each one"
  ),
  backoffMax: setting(
    Flag.Finite("backoff-max"),
    "NEXUS_WORKER_BACKOFF_MAX",
    number,
    Duration.toSeconds(Worker.defaults.retry.backoffMax),
    "The longest wait between retries, in seconds"
  ),
  grace: setting(
    Flag.Finite("grace"),
    "NEXUS_WORKER_GRACE",
    number,
    Duration.toSeconds(Worker.defaults.grace),
    "Seconds the requests in hand may finish after SIGTERM before they are put back"
  ),
  port: setting(
    Flag.Int("port"),
    "NEXUS_WORKER_PORT",
    integer,
    9480,
    "Port of /healthz, /readyz and /metrics (0: any free port, logged at start)"
  ),
  host: setting(
    Flag.String("host"),
    "NEXUS_WORKER_HOST",
    Config.String,
    "127.0.0.1",
    "Address the probes listen on (0.0.0.0 for every interface)"
  ),
  gatewayPort: Flag.Int("gateway-port").pipe(
    Flag.withDescription(
      "Also serve the OpenAI-compatible gateway (as `nexus serve` does) on this port (env NEXUS_WORKER_GATEWAY_PORT; default: not served)"
    ),
    Flag.withFallbackConfig(Config.Int("NEXUS_WORKER_GATEWAY_PORT")),
    Flag.optional
  ),
  gatewayHost: setting(
    Flag.String("gateway-host"),
    "NEXUS_WORKER_GATEWAY_HOST",
    Config.String,
    "127.0.0.1",
    "Address the gateway listens on, with --gateway-port"
  ),
  logFormat: setting(
    Flag.Literals("log-format", ["text", "json"]),
    "NEXUS_LOG_FORMAT",
    (name) => Config.Literals(["text", "json"], name),
    "text",
    "Log lines as text or as JSON objects"
  ),
  logContent: setting(
    Flag.Boolean("log-content"),
    "NEXUS_LOG_CONTENT",
    Config.Boolean,
    false,
    "Put prompt and output text in the logs (never otherwise)"
  )
}

/**
 * Traces to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`)
 * when either is set, over OTLP/HTTP JSON; nothing otherwise.
 */
const tracing = Layer.unwrap(
  Effect.gen(function* () {
    const traces = yield* Config.option(Config.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    const base = yield* Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT"))
    const url = Option.isSome(traces)
      ? Option.some(traces.value)
      : Option.map(base, (endpoint) => `${endpoint.replace(/\/+$/, "")}/v1/traces`)
    if (Option.isNone(url)) return Layer.empty
    const serviceName = yield* Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("nexus-worker"))
    return OtlpTracer.layer({ url: url.value, resource: { serviceName, serviceVersion: packageJson.version } }).pipe(
      Layer.provide(OtlpSerialization.layerJson),
      Layer.provide(FetchHttpClient.layer)
    )
  })
)

/** What is wrong with the settings, if anything. */
const invalidSetting = (input: {
  readonly concurrency: number
  readonly visibilityTimeout: number
  readonly pollInterval: number
  readonly maxAttempts: number
  readonly backoff: number
  readonly backoffMax: number
  readonly grace: number
  readonly port: number
  readonly gatewayPort: Option.Option<number>
}): string | undefined => {
  const atLeastOne = {
    concurrency: input.concurrency,
    "visibility-timeout": input.visibilityTimeout,
    "poll-interval": input.pollInterval,
    "max-attempts": input.maxAttempts
  }
  for (const [flag, value] of Object.entries(atLeastOne)) {
    if (value < 1) return `--${flag} must be at least 1 (it is ${value})`
  }
  if (!(input.backoff > 0)) return `--backoff must be more than 0 seconds (it is ${input.backoff})`
  if (input.backoffMax < input.backoff)
    return `--backoff-max (${input.backoffMax}) must be at least --backoff (${input.backoff})`
  if (!(input.grace >= 0)) return `--grace must be 0 seconds or more (it is ${input.grace})`
  if (input.port < 0 || input.port > 65535) return `--port must be 0 to 65535 (it is ${input.port})`
  if (Option.isSome(input.gatewayPort) && (input.gatewayPort.value < 0 || input.gatewayPort.value > 65535))
    return `--gateway-port must be 0 to 65535 (it is ${input.gatewayPort.value})`
  return undefined
}

/**
 * The worker command, named `name` (`worker` under `nexus`, `nexus-worker` on its own) and run as
 * `invocation` (`nexus worker`, `nexus-worker`).
 *
 * @since 0.1.0
 * @category commands
 */
export const make = (name: string, invocation: string = name) =>
  Command.make(name, flags, (input) =>
    Effect.gen(function* () {
      const problem = invalidSetting(input)
      if (problem !== undefined) return yield* new CliError.ValidationError({ message: problem })
      const settings: Worker.Settings = {
        concurrency: input.concurrency,
        visibilityTimeout: input.visibilityTimeout,
        pollSeconds: input.pollInterval,
        grace: Duration.seconds(input.grace),
        retry: {
          maxAttempts: input.maxAttempts,
          backoffBase: Duration.seconds(input.backoff),
          backoffMax: Duration.seconds(input.backoffMax)
        },
        logContent: input.logContent
      }
      const services = Worker.Worker.layer(settings).pipe(
        Layer.provideMerge(Probes.layer({ port: input.port, host: input.host })),
        Layer.provideMerge(
          Option.match(input.gatewayPort, {
            onNone: () => Layer.empty,
            onSome: (port) =>
              Gateway.layer({ port, host: input.gatewayHost, grace: Duration.seconds(input.grace) }).pipe(
                Layer.provideMerge(ApiKeys.ApiKeys.layer)
              )
          })
        ),
        Layer.provideMerge(RouterLive),
        Layer.provideMerge(QueueLive),
        Layer.provideMerge(tracing)
      )
      const logging =
        input.logFormat === "json" ? Logger.layer([Logger.withConsoleError(Logger.formatJson)]) : Layer.empty
      const stop = yield* Deferred.make<void>()
      // The signals are this command's from before the layers are built until after they are
      // closed (traces flushed, connections ended): a second one exits at once all along.
      yield* ownSignals(stop, {
        first: "stopping — no more reads, finishing the requests in hand",
        again: "exiting now; the requests in hand come back after their visibility timeout"
      })
      yield* Effect.gen(function* () {
        const worker = yield* Worker.Worker
        yield* Effect.logInfo("worker started", {
          version: packageJson.version,
          pid: process.pid,
          concurrency: settings.concurrency,
          visibilityTimeout: settings.visibilityTimeout
        })
        yield* worker.run(Deferred.await(stop))
        yield* Effect.logInfo("worker stopped")
      }).pipe(Effect.provide(Layer.provideMerge(services, logging)))
    }).pipe(Effect.scoped)
  ).pipe(
    Command.withDescription(
      [
        "Serve llm_requests: each request through the router to exactly one result on its reply queue; SIGTERM stops it cleanly.",
        "The database, the Codex backend and the accounts are configured as for every nexus command (DATABASE_URL, SHARED_QUEUE_DB_URL, CODEX_BASE_URL, CODEX_ISSUER, NEXUS_TOKEN_KEY, NEXUS_ROUTER_CONFIG, NEXUS_QUEUE_MAX_BYTES, NEXUS_LOG_LEVEL…);",
        "traces go to OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) over OTLP/HTTP when it is set."
      ].join(" ")
    ),
    Command.withExamples([
      { command: `${invocation} --concurrency 32`, description: "Stream up to 32 requests at once" },
      {
        command: `NEXUS_LOG_FORMAT=json NEXUS_WORKER_PORT=0 ${invocation}`,
        description: "JSON logs, probes on any free port"
      }
    ])
  )

/**
 * `nexus worker`.
 *
 * @since 0.1.0
 * @category commands
 */
export const worker = make("worker", "nexus worker")
