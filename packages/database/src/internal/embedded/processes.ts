// Processes as /proc tells them (Linux; elsewhere kill(2) is all there is): alive or not, who
// holds a lock (pid and start time, so that a pid used again is not taken for its old owner), and
// the processes still working on a directory.
import { Effect } from "effect"
import * as fs from "node:fs"

/**
 * Whether a process is alive: one of another user's counts (EPERM), a zombie does not — a server
 * killed after pg_ctl left it is nobody's child but init's, which may be slow to reap it (or, in a
 * container, never).
 */
export const alive = (pid: number) => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  const stat = procStat(pid)
  return stat === undefined || stat.state !== "Z" // no /proc (macOS): kill(2) is all there is
}

/** A process's state letter and start time (clock ticks since boot), from /proc; none without it. */
const procStat = (pid: number): { readonly state: string; readonly startTime: string } | undefined => {
  try {
    const fields = fs
      .readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /, "")
      .split(" ")
    return { state: fields[0]!, startTime: fields[19]! }
  } catch {
    return undefined
  }
}

/**
 * Who holds a lock: the pid and, where /proc tells it, the process's start time — so that a pid
 * used again by another process (after a reboot, or pid 1 of a restarted container) is not taken
 * for the holder.
 */
export const holderOf = (pid: number) => `${pid} ${procStat(pid)?.startTime ?? "-"}`

export const holderAlive = (holder: string) => {
  const [pid, startTime] = holder.trim().split(" ")
  if (!alive(Number(pid))) return false
  const now = procStat(Number(pid))?.startTime
  return startTime === undefined || startTime === "-" || now === undefined || now === startTime
}

/** Checks every 50 ms until `check` answers something, at most `attempts` times. */
export const poll = <A>(check: () => A | undefined, attempts: number) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const found = check()
      if (found !== undefined) return found
      yield* Effect.sleep("50 millis")
    }
    return undefined
  })

/**
 * Kills (SIGKILL) the processes working on `path` (Linux, through /proc): given it as their data
 * directory, or inside it — initdb's bootstrap backend reads PGDATA from its environment and works
 * from there.
 */
export const stopOrphans = (path: string) => {
  let pids: Array<string>
  try {
    pids = fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))
  } catch {
    return
  }
  const inside = (target: string) => {
    const clean = target.replace(/ \(deleted\)$/, "")
    return clean === path || clean.startsWith(`${path}/`)
  }
  for (const pid of pids) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`)
      if (args.some((arg) => arg === path || arg === `--pgdata=${path}`) || inside(cwd)) {
        process.kill(Number(pid), "SIGKILL")
      }
    } catch {
      // gone, or not ours to read
    }
  }
}
