// A spinner on stderr while a sign-in waits for the user, only when stderr is a terminal: piped
// output and logs stay clean.
import { Effect, Fiber } from "effect"

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/**
 * Runs `body`, which calls `start` once it begins to wait (after it has shown the URL or code);
 * from then on a spinner with `text` turns on stderr until `body` ends.
 */
export const withSpinner = <A, E, R>(text: string, body: (start: Effect.Effect<void>) => Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    if (process.stderr.isTTY !== true) return body(Effect.void)
    let active = false
    let frame = 0
    const draw = Effect.sync(() => {
      if (active) process.stderr.write(`\r${FRAMES[frame++ % FRAMES.length]} ${text}`)
    })
    return Effect.acquireUseRelease(
      Effect.forkDetach(Effect.forever(Effect.andThen(draw, Effect.sleep("80 millis")))),
      () =>
        body(
          Effect.sync(() => {
            active = true
          })
        ),
      (fiber) =>
        Effect.andThen(
          Fiber.interrupt(fiber),
          Effect.sync(() => {
            if (active) process.stderr.write("\r\x1b[2K")
          })
        )
    )
  })
