// The child processes of `./dev chaos`: the emulator and the `nexus-worker`s, every one of them
// registered so that it is killed whatever happens (a failed scenario, a timeout, Ctrl+C), and the
// `nexus` CLI for migrations and sign-ins. The workers and the CLI run as they ship: the bundles of
// `pnpm build` (rebuilt first when a source file is newer than them), copied for the run into a
// directory of its own, so that a build running meanwhile (another bench's) cannot change them
// under a worker being restarted.
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"

import { BUNDLES, freshBundles, root } from "../bundles.ts"

export { root }
/** The run's copies of the bundles (set by `prepareBinaries`). */
let binaries: string | undefined
const bin = (name: string) => {
  if (binaries === undefined) throw new Error("prepareBinaries() has not run")
  return join(binaries, `${name}.mjs`)
}

export type Env = Record<string, string>

/** Hides anything shaped like a token (a JWT, an emulator refresh token) before a log is shown. */
export const redact = (text: string) =>
  text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, "<jwt>").replace(/\brt_[\w-]+/g, "<refresh token>")

/** The last `n` lines of a log, on one line. */
export const lastLines = (log: string, n: number) => redact(log.trim().split("\n").slice(-n).join(" | "))

/** What a process said last, without stack frames: usually the error it died of. */
export const lastWords = (log: string) =>
  lastLines(
    log
      .split("\n")
      .filter((text) => !/^\s+at |^\s*\[cause\]|^\s*[{}]?\s*$/.test(text))
      .join("\n"),
    1
  )

/** The children this process killed on purpose (their exit is no crash). */
const killedHere = new WeakSet<ChildProcess>()

/** Every child still running; `killAll` ends them. */
const running = new Set<ChildProcess>()

const track = (child: ChildProcess) => {
  running.add(child)
  child.once("exit", () => running.delete(child))
  return child
}

/** SIGKILLs every child this process started and waits (briefly) until each is gone. */
export const killAll = async () => {
  const exits = [...running].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
  )
  // unref: the wait must not keep this process alive once everything is gone.
  await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 5000).unref())])
}

/**
 * Builds the worker and CLI bundles when they are missing or older than a source file, and copies
 * them (each is a small launcher and its bundle, which imports nothing outside Node) for the run.
 */
export const prepareBinaries = () => {
  freshBundles()
  binaries = mkdtempSync(join(tmpdir(), "nexus-chaos-bin-"))
  for (const [app, name] of BUNDLES) {
    for (const file of [`${name}.mjs`, `${name}.bundle.mjs`]) {
      copyFileSync(join(root, "apps", app, "dist", file), join(binaries, file))
    }
  }
}

/** Removes the run's copies. */
export const removeBinaries = () => {
  if (binaries !== undefined) rmSync(binaries, { recursive: true, force: true })
  binaries = undefined
}

/**
 * Where the bundles keep their compiled code between starts (their launcher's default, under the
 * real home: each fleet gives its children a HOME of their own).
 */
export const compileCache =
  process.env["NODE_COMPILE_CACHE"] ?? join(homedir(), ".cache", "nexus", "node-compile-cache")

/** The last 256 KB of a stream, for the diagnosis of a failure. */
const tail = (child: ChildProcess, stream: "stdout" | "stderr") => {
  let text = ""
  child[stream]!.setEncoding("utf8").on("data", (chunk: string) => {
    text = (text + chunk).slice(-262_144)
  })
  return () => text
}

export interface EmulatorProcess {
  readonly child: ChildProcess
  readonly urls: { readonly issuer: string; readonly codexBaseUrl: string; readonly adminUrl: string }
  /** What it logged so far (its last 256 KB). */
  readonly log: () => string
}

/** Starts the emulator (`packages/codex-emulator/src/bin.ts --port 0`) and waits for its URLs. */
export const startEmulator = () =>
  new Promise<EmulatorProcess>((resolve, reject) => {
    const child = track(
      spawn(process.execPath, ["packages/codex-emulator/src/bin.ts", "--port", "0"], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
    )
    const stderr = tail(child, "stderr")
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the emulator exited with ${code}: ${lastLines(stderr(), 5)}`)))
    createInterface({ input: child.stdout! }).once("line", (line) =>
      resolve({ child, urls: JSON.parse(line), log: stderr })
    )
  })

export interface WorkerProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** The port of its probes (/healthz, /readyz, /metrics). */
  readonly port: number
  /** What it logged so far (its last 256 KB). */
  readonly log: () => string
  /** Resolves when it has exited. */
  readonly exited: Promise<void>
  readonly alive: () => boolean
  /** Why it exited by itself ("exited with 1: <its last words>"); undefined while it runs or when killed here. */
  readonly crashed: () => string | undefined
}

/**
 * Starts `nexus-worker --port 0 args…` and waits for "worker started" (at most `timeoutMs`); a
 * worker that exits or stays silent instead is an error carrying its log.
 */
export const startWorker = (env: Env, args: ReadonlyArray<string>, timeoutMs = 30_000) =>
  new Promise<WorkerProcess>((resolve, reject) => {
    const child = track(
      spawn(process.execPath, [bin("nexus-worker"), "--port", "0", ...args], {
        env,
        stdio: ["ignore", "ignore", "pipe"]
      })
    )
    const log = tail(child, "stderr")
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const alive = () => child.exitCode === null && child.signalCode === null
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`nexus-worker did not start within ${timeoutMs} ms: ${lastLines(log(), 5)}`))
    }, timeoutMs)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`nexus-worker exited (${code ?? signal}) before it started: ${lastLines(log(), 5)}`))
    })
    let started = false
    child.stderr!.on("data", () => {
      const text = log()
      const port = /probes listening.*?:(\d+)/.exec(text)?.[1]
      if (started || port === undefined || !text.includes("worker started")) return
      started = true
      clearTimeout(timer)
      resolve({
        child,
        pid: child.pid!,
        port: Number(port),
        log,
        exited,
        alive,
        crashed: () =>
          alive() || killedHere.has(child)
            ? undefined
            : `exited with ${child.exitCode ?? child.signalCode}: ${lastWords(log())}`
      })
    })
  })

/** SIGKILLs a worker and waits until it is gone. */
export const kill = async (worker: WorkerProcess) => {
  killedHere.add(worker.child)
  if (worker.alive()) worker.child.kill("SIGKILL")
  await worker.exited
}

/** Runs `nexus args…` (the CLI bundle); rejects with its (redacted) output when it fails. */
export const nexus = (env: Env, ...args: Array<string>) =>
  new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [bin("nexus"), ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) resolve()
      else
        reject(
          new Error(
            `nexus ${args.slice(0, 2).join(" ")} failed (${error.code ?? error.signal}): ${lastLines(`${stdout}${stderr}`, 5)}`
          )
        )
    })
  })

/** A worker's /metrics, summed by metric name (labels ignored). */
export const metrics = async (worker: WorkerProcess) => {
  const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text()
  const sums = new Map<string, number>()
  for (const [, name, value] of text.matchAll(/^(\w+)(?:\{[^}]*\})? (\S+)$/gm)) {
    sums.set(name!, (sums.get(name!) ?? 0) + Number(value))
  }
  return sums
}
