/**
 * Running a command tree: parse the process's arguments, run the chosen command, and turn every
 * failure into one message on stderr and an exit code (0 ok, 1 failure, 2 usage, 130 interrupted).
 * Shared by `nexus` and `nexus-worker`, and free of the commands themselves, so that a binary
 * loads only the commands it runs.
 *
 * @since 0.1.0
 */
import { Cause, Config, Console, Effect, Logger, Option, References, Runtime, Schema } from "effect"
import type { LogLevel } from "effect"
import { CliError, CliOutput, Command } from "effect/cli"
import packageJson from "../package.json" with { type: "json" }
import { firstLine } from "./internal/format.ts"

/**
 * How the process ends after a failure that was already reported.
 *
 * @since 0.1.0
 * @category errors
 */
export class Exit extends Schema.TaggedError<Exit>()("Exit", { code: Schema.Int }) {
  override readonly [Runtime.errorExitCode] = this.code
  override readonly [Runtime.errorReported] = true
}

const levels: Record<string, LogLevel.LogLevel> = {
  all: "All",
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None"
}

/** `NEXUS_LOG_LEVEL` (same names as `--log-level`, which wins); Info by default. */
const logLevel = Config.option(Config.String("NEXUS_LOG_LEVEL")).pipe(
  Effect.orElseSucceed(() => Option.none<string>()),
  Effect.map((level) => Option.flatMap(level, (name) => Option.fromUndefinedOr(levels[name.trim().toLowerCase()]))),
  Effect.map(Option.getOrElse((): LogLevel.LogLevel => "Info"))
)

/**
 * The built-in output, except for a mistyped command line: one short line on stderr (what is
 * wrong, and where the help is), not the whole help on stdout.
 */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(
          `Error: ${event.errors.map((error) => firstLine(error.message)).join("; ")}. Run \`${event.commandPath.join(" ")} --help\` for usage.`
        )
      : CliOutput.defaultPresenter.present(event)
})

/** Prints one message for a failure (CLI usage errors were already shown by the presenter). */
const report = (cause: Cause.Cause<unknown>): Effect.Effect<void, Exit> =>
  Effect.gen(function* () {
    if (Cause.hasInterruptsOnly(cause)) return yield* new Exit({ code: 130 })
    const error = Cause.squash(cause)
    if (CliError.isCliError(error)) {
      if (error._tag === "ShowHelp") {
        if (error.errors.length === 0) return
        return yield* new Exit({ code: 2 })
      }
      yield* Console.error(`Error: ${error.message}`)
      return yield* new Exit({ code: 2 })
    }
    if (Cause.hasFails(cause)) {
      const message = error instanceof Error ? error.message : String(error)
      yield* Console.error(`Error: ${message}`)
      return yield* new Exit({ code: Runtime.getErrorExitCode(error) })
    }
    const message = error instanceof Error ? firstLine(error.message) : "unknown defect"
    yield* Console.error(
      `Error: unexpected failure (${message}). Run again with --log-level debug for details, and report it if it persists.`
    )
    yield* Effect.logDebug("unexpected failure", cause)
    return yield* new Exit({ code: 1 })
  })

/**
 * Runs `command` with the process's arguments, reporting failures as `nexus` does; logs go to
 * stderr so that stdout stays parseable.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <Name extends string, Input, E, R>(command: Command.Command<Name, Input, {}, E, R>) =>
  Effect.gen(function* () {
    const level = yield* logLevel
    return yield* Command.run(command, { version: packageJson.version }).pipe(
      Effect.catchCause(report),
      Effect.provide(presenter),
      Effect.provideService(References.MinimumLogLevel, level)
    )
  }).pipe(Effect.provideService(Logger.LogToStderr, true))
