#!/usr/bin/env node
/**
 * `nexus-emulator`: serves the Codex emulator until SIGTERM and prints one JSON line with its URLs.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Console, Effect, Exit, Option, Runtime } from "effect"
import { Command, Flag } from "effect/cli"
import { Emulator } from "./Emulator.ts"

const command = Command.make(
  "nexus-emulator",
  {
    port: Flag.Int("port").pipe(Flag.withDescription("Port to listen on; 0 picks a free one"), Flag.withDefault(0)),
    host: Flag.String("host").pipe(
      Flag.withDescription("Loopback address to bind: 127.0.0.0/8, ::1 or localhost"),
      Flag.withDefault("127.0.0.1")
    ),
    approval: Flag.Literals("approval", ["auto", "interactive"]).pipe(
      Flag.withDescription("auto: /oauth/authorize redirects straight back; interactive: shows Approve and Deny"),
      Flag.withDefault("auto")
    ),
    requireInstructions: Flag.Boolean("require-instructions").pipe(
      Flag.withDescription(
        "Refuse /responses bodies without `instructions` (the real backend accepts them; Nexus's mapping tests use this)"
      ),
      Flag.withDefault(false)
    ),
    tokenLifetime: Flag.Int("token-lifetime").pipe(
      Flag.withDescription(
        "Access-token lifetime in seconds; more than 300 (the clients' refresh window) unless --allow-short-token-lifetime"
      ),
      Flag.optional
    ),
    allowShortTokenLifetime: Flag.Boolean("allow-short-token-lifetime").pipe(
      Flag.withDescription(
        "Accept a --token-lifetime of 300 s or less: every token is then due at once and clients refresh in a loop (for tests of the refresh window)"
      ),
      Flag.withDefault(false)
    ),
    clientId: Flag.String("client-id").pipe(
      Flag.withDescription("OAuth client id to accept (default: the Codex CLI's)"),
      Flag.optional
    )
  },
  Effect.fn(function* (flags) {
    const layer = Emulator.layer({
      port: flags.port,
      host: flags.host,
      clientIds: Option.isSome(flags.clientId) ? [flags.clientId.value] : undefined,
      settings: {
        approval: flags.approval,
        requireInstructions: flags.requireInstructions,
        allowShortTokenLifetime: flags.allowShortTokenLifetime,
        ...(Option.isSome(flags.tokenLifetime) ? { accessTokenTtlSeconds: flags.tokenLifetime.value } : {})
      }
    })
    return yield* Effect.gen(function* () {
      const emulator = yield* Emulator
      // stdout: one JSON line for programs; stderr: what a person needs next.
      yield* Console.log(JSON.stringify(emulator.urls))
      yield* Console.error(
        [
          `nexus-emulator is listening on ${emulator.urls.issuer}; stop it with Ctrl+C.`,
          "Point the nexus CLI at it from another shell:",
          `  export CODEX_ISSUER=${emulator.urls.issuer} CODEX_BASE_URL=${emulator.urls.codexBaseUrl}`
        ].join("\n")
      )
      return yield* Effect.never
    }).pipe(Effect.provide(layer))
  })
).pipe(Command.withDescription("A local stand-in for auth.openai.com and the ChatGPT Codex backend"))

// Stopping on SIGTERM/SIGINT is how this server is meant to end, so it exits 0 rather than 130.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

Command.run(command, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
