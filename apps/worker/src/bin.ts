#!/usr/bin/env node
/**
 * The `nexus-worker` executable: `nexus worker`, on its own.
 *
 * Many streams per process (`--concurrency` over 64) run with a small young generation: V8 lets
 * each of its semi-spaces grow to 16 MB under load, and a worker streaming 1,000 requests then
 * holds about 60 MB more than with 2 MB ones. With few streams the larger young generation is
 * worth its memory: at the default 16, 2 MB semi-spaces cost a fifth of the throughput
 * (`./dev bench:worker` prints both). V8 takes the size only at start, so the process replaces
 * itself (`execve`: same pid, same signals, nothing in between) with one that has it — unless
 * `--max-semi-space-size` was given on the command line or in NODE_OPTIONS.
 *
 * @since 0.1.0
 */
const FLAG = "--max-semi-space-size"

/** `--concurrency N`, `--concurrency=N` or NEXUS_WORKER_CONCURRENCY; 16 when none says. */
const concurrency = (): number => {
  const args = process.argv.slice(2)
  for (const [index, arg] of args.entries()) {
    if (arg === "--concurrency") return Number(args[index + 1])
    if (arg.startsWith("--concurrency=")) return Number(arg.slice("--concurrency=".length))
  }
  return Number(process.env["NEXUS_WORKER_CONCURRENCY"] ?? 16)
}

const given = [...process.execArgv, ...(process.env["NODE_OPTIONS"] ?? "").split(/\s+/)].some((arg) =>
  arg.startsWith(FLAG)
)
if (!given && concurrency() > 64 && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, `${FLAG}=2`, ...process.execArgv, ...process.argv.slice(1)])
}

const NodeRuntime = await import("@effect/platform-node/NodeRuntime")
const NodeServices = await import("@effect/platform-node/NodeServices")
const Effect = await import("effect/Effect")
const { run } = await import("@nexus/cli/Run")
const { make } = await import("@nexus/cli/worker")

run(make("nexus-worker")).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ disableErrorReporting: true }))
