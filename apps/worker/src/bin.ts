#!/usr/bin/env node
/**
 * The `nexus-worker` executable: `nexus worker`, on its own, with a small young generation.
 *
 * V8 lets each of its young-generation semi-spaces grow to 16 MB or more under load; a worker
 * streaming 1,000 requests then holds about 60 MB more memory than with 2 MB ones, for a few
 * percent of throughput (`./dev bench:worker` prints both). V8 takes the size only at start, so
 * when it was not given (`--max-semi-space-size` on the command line or in NODE_OPTIONS) the
 * process replaces itself (`execve`: same pid, same signals, nothing in between) with one that
 * has it.
 *
 * @since 0.1.0
 */
const FLAG = "--max-semi-space-size"
const given = [...process.execArgv, ...(process.env["NODE_OPTIONS"] ?? "").split(/\s+/)].some((arg) =>
  arg.startsWith(FLAG)
)
if (!given && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, `${FLAG}=2`, ...process.execArgv, ...process.argv.slice(1)])
}

const { NodeRuntime, NodeServices } = await import("@effect/platform-node")
const { Effect } = await import("effect")
const { run } = await import("@nexus/cli/Run")
const { make } = await import("@nexus/cli/worker")

run(make("nexus-worker")).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ disableErrorReporting: true }))
