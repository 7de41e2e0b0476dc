/**
 * `nexus serve`: the OpenAI-compatible gateway on the router (bound to loopback unless `--host`
 * says otherwise); `nexus gateway keys create|list|revoke` and `nexus gateway usage`: its API keys
 * and what each one used.
 *
 * @since 0.1.0
 */
import { ApiKeys, Gateway } from "@nexus/gateway"
import { Config, Console, Deferred, Duration, Effect, Layer, Option, Redacted } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { integer, number, setting } from "../internal/flags.ts"
import { ownSignals } from "../internal/signals.ts"
import { GatewayServicesLive, KeysLive } from "../Services.ts"

/**
 * The gateway's port when none is given.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORT = 8480

/**
 * `--host`, `--port`: where the gateway listens.
 *
 * @since 0.1.0
 * @category flags
 */
export const listenFlags = {
  host: setting(
    Flag.String("host"),
    "NEXUS_GATEWAY_HOST",
    Config.String,
    "127.0.0.1",
    "Address the gateway listens on (0.0.0.0 exposes it to every interface: put TLS in front)"
  ),
  port: setting(
    Flag.Int("port"),
    "NEXUS_GATEWAY_PORT",
    integer,
    DEFAULT_PORT,
    "Port of the gateway (0: any free port)"
  ),
  grace: setting(
    Flag.Finite("grace"),
    "NEXUS_GATEWAY_GRACE",
    number,
    30,
    "Seconds the requests in hand may finish after SIGTERM before they are cut"
  )
}

/**
 * `nexus serve`.
 *
 * @since 0.1.0
 * @category commands
 */
export const serve = Command.make(
  "serve",
  listenFlags,
  Effect.fn("nexus.serve")(function* ({ host, port, grace }) {
    if (port < 0 || port > 65535) {
      return yield* new CliError.ValidationError({ message: `--port must be 0 to 65535 (it is ${port})` })
    }
    if (!(grace >= 0)) {
      return yield* new CliError.ValidationError({ message: `--grace must be 0 seconds or more (it is ${grace})` })
    }
    const stop = yield* Deferred.make<void>()
    yield* ownSignals(stop, {
      first: "stopping — no new requests; the streams in hand finish, then the usage is written",
      again: "exiting now; the streams in hand are cut"
    })
    // The server lives until the first signal; closing it waits for the requests in hand.
    yield* Effect.scoped(
      Effect.andThen(
        Layer.build(
          Gateway.layer({ host, port, grace: Duration.seconds(grace) }).pipe(Layer.provide(GatewayServicesLive))
        ),
        Deferred.await(stop)
      )
    )
    yield* Effect.logInfo("gateway stopped")
  }, Effect.scoped)
).pipe(
  Command.withDescription(
    "Serve the OpenAI API (POST /v1/chat/completions, POST /v1/responses, GET /v1/models) on the signed-in ChatGPT accounts, through the router; clients authenticate with a key from `nexus gateway keys create`"
  ),
  Command.withExamples([
    { command: "nexus serve", description: "Serve on http://127.0.0.1:8480/v1" },
    { command: "nexus serve --host 0.0.0.0 --port 9000", description: "Serve every interface on port 9000" }
  ])
)

const when = (date: Date | null) => (date === null ? "never" : date.toISOString().replace(/\.\d+Z$/, "Z"))

const create = Command.make(
  "create",
  {
    name: Argument.String("name").pipe(Argument.withDescription("What the key is for (unique among live keys)")),
    json: Flags.json("the key and its id")
  },
  Effect.fn("nexus.gateway.keys.create")(function* ({ name, json }) {
    const keys = yield* ApiKeys.ApiKeys
    const { info, key } = yield* keys.create(name)
    if (json) return yield* Console.log(JSON.stringify({ ...info, key: Redacted.value(key) }))
    yield* Console.log(Redacted.value(key))
    yield* Console.error(
      `Created key "${info.name}" (${info.id}). It is shown this once: give it to the client as its OpenAI API key.`
    )
  })
).pipe(
  Command.withDescription("Create an API key for the gateway; the key is printed once, on stdout"),
  Command.withExamples([
    { command: "nexus gateway keys create ci", description: "A key for CI" },
    {
      command: "export OPENAI_API_KEY=$(nexus gateway keys create laptop)",
      description: "A key straight into a client's environment"
    }
  ]),
  Command.provide(KeysLive)
)

const list = Command.make(
  "list",
  { json: Flags.json("every key (never the key itself)") },
  Effect.fn("nexus.gateway.keys.list")(function* ({ json }) {
    const all = yield* (yield* ApiKeys.ApiKeys).list
    if (json) return yield* Console.log(JSON.stringify(all, null, 2))
    if (all.length === 0) return yield* Console.log("No API keys yet: `nexus gateway keys create NAME` makes one.")
    for (const key of all) {
      const state = key.revokedAt === null ? "live" : `revoked ${when(key.revokedAt)}`
      yield* Console.log(
        `${key.name.padEnd(20)} ${key.prefix}…  ${state.padEnd(28)} created ${when(key.createdAt)}, last used ${when(key.lastUsedAt)}  ${key.id}`
      )
    }
  })
).pipe(Command.withDescription("List the gateway's API keys, revoked ones included"), Command.provide(KeysLive))

const revoke = Command.make(
  "revoke",
  {
    key: Argument.String("name-or-id").pipe(Argument.withDescription("The key's name or id")),
    json: Flags.json("the revoked key")
  },
  Effect.fn("nexus.gateway.keys.revoke")(function* ({ key, json }) {
    const revoked = yield* (yield* ApiKeys.ApiKeys).revoke(key)
    if (json) return yield* Console.log(JSON.stringify(revoked))
    yield* Console.log(
      `Revoked key "${revoked.name}" (${revoked.id}); every gateway refuses it within ${Duration.format(ApiKeys.VERIFIED_FOR)}.`
    )
  })
).pipe(
  Command.withDescription("Revoke an API key: every gateway of the fleet refuses it within seconds"),
  Command.provide(KeysLive)
)

const keys = Command.make("keys").pipe(
  Command.withDescription("Create, list and revoke the gateway's API keys (stored hashed in PostgreSQL)"),
  Command.withSubcommands([create, list, revoke])
)

const usage = Command.make(
  "usage",
  {
    since: Flag.String("since").pipe(
      Flag.withDescription("Only requests since this ISO-8601 time (e.g. 2026-12-01T00:00:00Z)"),
      Flag.optional
    ),
    json: Flags.json("the usage rows")
  },
  Effect.fn("nexus.gateway.usage")(function* ({ since, json }) {
    let from: Date | undefined
    if (Option.isSome(since)) {
      from = new Date(since.value)
      if (Number.isNaN(from.getTime())) {
        return yield* new CliError.ValidationError({ message: `--since ${since.value} is not an ISO-8601 time` })
      }
    }
    const rows = yield* (yield* ApiKeys.ApiKeys).usage(from)
    if (json) return yield* Console.log(JSON.stringify(rows, null, 2))
    if (rows.length === 0) return yield* Console.log("No gateway requests recorded yet.")
    yield* Console.log(
      `${"key".padEnd(16)} ${"model".padEnd(14)} ${"account".padEnd(20)} ${"requests".padStart(8)} ${"errors".padStart(6)} ${"in".padStart(9)} ${"cached".padStart(9)} ${"out".padStart(9)}  last`
    )
    for (const row of rows) {
      yield* Console.log(
        `${row.key.padEnd(16)} ${(row.model ?? "-").padEnd(14)} ${(row.account ?? "-").padEnd(20)} ${String(row.requests).padStart(8)} ${String(row.errors).padStart(6)} ${String(row.inputTokens).padStart(9)} ${String(row.cachedTokens).padStart(9)} ${String(row.outputTokens).padStart(9)}  ${when(row.lastAt)}`
      )
    }
  })
).pipe(Command.withDescription("Requests and tokens per API key, model and account"), Command.provide(KeysLive))

/**
 * `nexus gateway`.
 *
 * @since 0.1.0
 * @category commands
 */
export const gateway = Command.make("gateway").pipe(
  Command.withDescription("The gateway's API keys and usage (`nexus serve` runs the gateway)"),
  Command.withExamples([
    { command: "nexus gateway keys create laptop", description: "Make a key for a client" },
    { command: "nexus gateway usage --json", description: "What each key used" }
  ]),
  Command.withSubcommands([keys, usage])
)
