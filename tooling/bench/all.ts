// `./dev bench`: every benchmark of tooling/bench, one after the other (each alone on the machine),
// then one table — for each figure: Nexus's measurement, its baseline measured in the same run, the
// ratio (or the time added), the goal, met or not — and the same as JSON with `--out FILE`.
// The benches run on an embedded PostgreSQL started for the run (in a throwaway directory), or on the
// server `DATABASE_URL` names when it is set. A bench that fails (exits non-zero, or reports
// nothing) makes the run exit 1; a goal not met does not: the figures are for reading, on a machine
// whose speed nobody promised.
//   ./dev bench [--quick] [--out FILE] [--only emulator,queue,…]
import { type ChildProcess, spawn } from "node:child_process"
import { cpus, homedir, totalmem, type as osType, release } from "node:os"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { benchArgs } from "./args.ts"
import { openDatabase } from "./database.ts"
import type { BenchReport, Figure } from "./report.ts"

/** The benches, in the order they run: the in-process ones first, the fleet last. */
const BENCHES = ["emulator", "codex-client", "queue", "router", "credentials", "gateway", "worker", "startup"] as const

const values = benchArgs({ out: { type: "string" }, only: { type: "string" } })
if (values.json !== undefined) {
  console.error("bench: the table's JSON goes where --out says (--json is each bench's own option)")
  process.exit(2)
}
const only = values.only?.split(",").map((name) => name.trim())
const unknown = only?.filter((name) => !(BENCHES as ReadonlyArray<string>).includes(name)) ?? []
if (unknown.length > 0) {
  console.error(`bench: no bench named ${unknown.join(", ")}; the benches: ${BENCHES.join(", ")}`)
  process.exit(2)
}
const selected = BENCHES.filter((name) => only === undefined || only.includes(name))
const here = new URL(".", import.meta.url).pathname
const scratch = mkdtempSync(join(tmpdir(), "nexus-bench-run-"))

interface Outcome {
  readonly bench: string
  readonly seconds: number
  readonly ok: boolean
  readonly error?: string
  readonly figures: ReadonlyArray<Figure>
}

/** The bench running now: its process group is ended with this run, however the run ends. */
let current: ChildProcess | undefined

/** Runs one bench as a child (its output shown as it comes, each line prefixed); answers its report. */
const run = (bench: string) =>
  new Promise<Outcome>((resolve) => {
    const json = join(scratch, `${bench}.json`)
    const began = performance.now()
    const child = spawn(
      process.execPath,
      [join(here, `${bench}.ts`), ...(values.quick ? ["--quick"] : []), "--json", json],
      {
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group: a signal to the run ends the bench and its emulator and workers.
        detached: true,
        env: {
          ...process.env,
          // Node compiles each module once across runs and benches (the worker's and CLI's bundles
          // turn it on themselves): cold starts stay out of what the benches measure.
          NODE_COMPILE_CACHE:
            process.env["NODE_COMPILE_CACHE"] ??
            join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "nexus", "bench-compile-cache")
        }
      }
    )
    current = child
    let tail = ""
    const relay = (chunk: Buffer) => {
      const text = chunk.toString()
      tail = (tail + text).slice(-2000)
      process.stdout.write(text.replace(/^(?=.)/gm, `  ${bench} │ `))
    }
    child.stdout!.on("data", relay)
    child.stderr!.on("data", relay)
    // "close", not "exit": its last output is in before the outcome is told.
    child.once("close", (code, signal) => {
      current = undefined
      const seconds = (performance.now() - began) / 1000
      let report: BenchReport | undefined
      try {
        report = JSON.parse(readFileSync(json, "utf8")) as BenchReport
      } catch {
        report = undefined
      }
      if (code === 0 && report !== undefined && report.figures.length > 0) {
        return resolve({ bench, seconds, ok: true, figures: report.figures })
      }
      const why = code !== 0 ? `exited with ${signal ?? code}` : "reported no figures"
      resolve({ bench, seconds, ok: false, error: `${why}; its last output:\n${tail}`, figures: report?.figures ?? [] })
    })
  })

/** A number as the table shows it: 3 significant digits, thousands grouped. */
const show = (n: number): string => {
  if (!Number.isFinite(n)) return String(n)
  if (n === 0) return "0"
  const abs = Math.abs(n)
  if (abs >= 1000) return Math.round(n).toLocaleString("en-US")
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 1) return n.toFixed(abs >= 10 ? 1 : 2)
  return n.toPrecision(2)
}

const comparison = (figure: Figure) =>
  figure.added !== undefined && figure.goal?.includes("added") === true
    ? `${figure.added >= 0 ? "+" : ""}${show(figure.added)} ${figure.unit}`
    : figure.ratio !== undefined
      ? `${show(figure.ratio)}×`
      : ""

/** The table, in Markdown: readable in a terminal, pasted as it is into the README. */
const table = (outcomes: ReadonlyArray<Outcome>) => {
  const rows = [
    ["bench", "figure", "Nexus", "baseline (same run)", "ratio", "goal", "met"],
    ...outcomes.flatMap((outcome) => [
      ...outcome.figures.map((figure) => [
        outcome.bench,
        figure.figure,
        `${show(figure.value)} ${figure.unit}`,
        figure.baseline === undefined ? "" : `${show(figure.baseline.value)} (${figure.baseline.name})`,
        comparison(figure),
        figure.goal ?? "",
        figure.met === undefined ? "" : figure.met ? "yes" : "**no**"
      ]),
      ...(outcome.ok ? [] : [[outcome.bench, "**the bench failed**", "", "", "", "", "**no**"]])
    ])
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  const line = (row: ReadonlyArray<string>) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`
  return [
    line(rows[0]!),
    `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`,
    ...rows.slice(1).map(line)
  ].join("\n")
}

const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown"}`,
  memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
  os: `${osType()} ${release()}`,
  node: process.version
}

const began = performance.now()
const database = await openDatabase()
/** Signals a bench's process group (gone already: nothing to do). */
const signalGroup = (leader: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-leader, signal)
  } catch {
    // No such group any more.
  }
}

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  console.error("\nbench: stopping the bench that runs, removing the database…")
  const bench = current
  const ended =
    bench?.pid === undefined
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          bench.once("close", () => resolve())
          signalGroup(bench.pid!, "SIGTERM")
          // Its finally blocks get 5 s; then whatever of its group is left goes.
          setTimeout(resolve, 5000).unref()
        }).then(() => {
          signalGroup(bench.pid!, "SIGKILL")
        })
  void ended
    .then(() => database.close())
    .finally(() => {
      rmSync(scratch, { recursive: true, force: true })
      process.exit(130)
    })
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
const outcomes: Array<Outcome> = []
try {
  console.log(
    `bench: ${selected.join(", ")}${values.quick ? " (quick)" : ""} on ${database.description}; ${machine.cpus}, ${machine.memory}, Node ${machine.node}`
  )
  for (const bench of selected) {
    if (stopping) break
    console.log(`\n── ${bench} ──`)
    const outcome = await run(bench)
    outcomes.push(outcome)
    console.log(`── ${bench}: ${outcome.ok ? "done" : "FAILED"} in ${outcome.seconds.toFixed(1)} s`)
  }
} finally {
  await database.close()
  rmSync(scratch, { recursive: true, force: true })
}
// Stopped by a signal: its handler ends the run once the bench's group is gone.
if (stopping) await new Promise((resolve) => setTimeout(resolve, 60_000))
const seconds = (performance.now() - began) / 1000
const figures = outcomes.flatMap((outcome) => outcome.figures)
const unmet = figures.filter((figure) => figure.met === false)
const failed = outcomes.filter((outcome) => !outcome.ok)
console.log(
  `\n${values.quick ? "Quick run" : "Full run"} of ${new Date().toISOString().slice(0, 10)}, ${machine.cpus}, ${machine.memory}, Node ${machine.node}, ${database.description}:\n`
)
console.log(table(outcomes))
console.log(
  `\n${figures.length} figures from ${outcomes.length} benches in ${seconds.toFixed(0)} s; goals: ${figures.filter((figure) => figure.met === true).length} met, ${unmet.length} not met${unmet.length > 0 ? ` (${unmet.map((figure) => figure.figure).join("; ")})` : ""}`
)
for (const outcome of failed) console.error(`bench ${outcome.bench} FAILED: ${outcome.error}`)
if (values.out !== undefined) {
  writeFileSync(
    values.out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        quick: values.quick,
        machine,
        database: database.description,
        seconds,
        benches: outcomes.map(({ bench, seconds: took, ok, error, figures: found }) => ({
          bench,
          seconds: took,
          ok,
          ...(error === undefined ? {} : { error }),
          figures: found
        }))
      },
      null,
      2
    )}\n`
  )
  console.log(`written to ${values.out}`)
}
process.exit(failed.length > 0 ? 1 : 0)
