// The data dir's lock: one process at a time starts, stops or deletes its server. A file created
// with link(2) (atomic) names its holder; a dead holder's lock is taken over.
import { Effect, Option, Semaphore } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import type { EmbeddedDatabaseError } from "../../Errors.ts"
import { holderAlive, holderOf } from "./processes.ts"
import { fail } from "./programs.ts"

/** The lock file of a data dir's state directory. */
export const lockPath = (state: string) => join(state, "lock")

/**
 * Takes the lock once: true when taken; false when a live process holds it, or held it a moment
 * ago. A dead holder's lock is moved aside (rename is atomic: of processes finding the same dead
 * holder, one moves it) and removed; a live lock moved aside by a race is put back.
 */
const tryLock = (state: string): boolean => {
  const path = lockPath(state)
  const mine = `${path}.${process.pid}`
  fs.writeFileSync(mine, `${holderOf(process.pid)}\n`, { mode: 0o600 })
  try {
    fs.linkSync(mine, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    const holder = readLock(state)
    if (holder === undefined || holderAlive(holder)) return false
    const aside = `${path}.stale.${process.pid}`
    try {
      fs.renameSync(path, aside)
    } catch {
      return false // another process moved it first
    }
    const moved = fs.readFileSync(aside, "utf8")
    // A live holder's lock taken in between: back where it was (unless yet another took the place).
    if (moved.trim() !== holder.trim() && holderAlive(moved)) {
      try {
        fs.linkSync(aside, path)
      } catch {
        // the lock was taken again meanwhile; that holder's own lock stands
      }
    }
    fs.rmSync(aside, { force: true })
    return false
  } finally {
    fs.rmSync(mine, { force: true })
  }
}

/** The lock's holder line, or none when there is no lock (released meanwhile). */
const readLock = (state: string): string | undefined => {
  try {
    return fs.readFileSync(lockPath(state), "utf8")
  } catch {
    return undefined
  }
}

/** One holder at a time within this process too (the lock file names the process, not the fiber). */
const local = new Map<string, Semaphore.Semaphore>()

/**
 * Runs `effect` holding the data dir's lock, waiting up to a minute for another process's turn —
 * interruptibly: only each single attempt to take it is not.
 */
export const withLock = <A, E, R>(
  state: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | EmbeddedDatabaseError, R> => {
  const path = lockPath(state)
  let semaphore = local.get(path)
  if (semaphore === undefined) local.set(path, (semaphore = Semaphore.makeUnsafe(1)))
  const attempt = Effect.acquireUseRelease(
    Effect.sync(() => {
      fs.mkdirSync(state, { recursive: true, mode: 0o700 })
      return tryLock(state)
    }),
    (taken) => (taken ? Effect.asSome(effect) : Effect.succeedNone),
    (taken) =>
      Effect.sync(() => {
        if (taken && readLock(state)?.trim() === holderOf(process.pid)) fs.rmSync(path, { force: true })
      })
  )
  const waiting = Effect.gen(function* () {
    for (let tries = 0; tries < 1200; tries++) {
      const done = yield* attempt
      if (Option.isSome(done)) return done.value
      yield* Effect.sleep("50 millis")
    }
    return yield* fail(
      "busy",
      `process ${readLock(state)?.split(" ")[0] ?? "?"} has held ${path} for a minute (delete that file if no nexus process runs)`
    )
  })
  return semaphore.withPermit(waiting)
}
