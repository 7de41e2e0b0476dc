// SIGINT and SIGTERM for a long-running command that stops cleanly: the first completes `stop` (the
// command drains and exits 0), a second exits at once with 130. They replace the runtime's own
// handlers, which would interrupt the command instead of letting it drain, for as long as the scope.
import { Deferred, Effect, Exit } from "effect"

/** What the command says on stderr at the first signal, and at a second one. */
export interface SignalMessages {
  readonly first: string
  readonly again: string
}

export const ownSignals = (stop: Deferred.Deferred<void>, messages: SignalMessages) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let received = 0
      const onSignal = (signal: NodeJS.Signals) => {
        received++
        if (received === 1) {
          process.stderr.write(`${signal}: ${messages.first}\n`)
          Deferred.doneUnsafe(stop, Exit.void)
          return
        }
        process.stderr.write(`${signal} again: ${messages.again}\n`)
        process.exit(130)
      }
      const saved = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") }
      process.removeAllListeners("SIGINT").removeAllListeners("SIGTERM")
      process.on("SIGINT", onSignal).on("SIGTERM", onSignal)
      return { onSignal, saved }
    }),
    ({ onSignal, saved }) =>
      Effect.sync(() => {
        process.removeListener("SIGINT", onSignal).removeListener("SIGTERM", onSignal)
        for (const listener of saved.SIGINT) process.on("SIGINT", listener)
        for (const listener of saved.SIGTERM) process.on("SIGTERM", listener)
      })
  )
