// What a bench measured, as `./dev bench` puts it in its table: each figure beside its baseline
// measured in the same run, their ratio (or the difference, for latency added), the goal and
// whether it is met. A bench run with `--json FILE` writes its figures there when it ends.
import { writeFileSync } from "node:fs"

export interface Figure {
  /** What was measured, e.g. "Pgmq send". */
  readonly figure: string
  /** Nexus's measurement, in `unit`. */
  readonly value: number
  readonly unit: string
  /** The same thing done the bare way, measured in the same run (what the ratio is against). */
  readonly baseline?: { readonly name: string; readonly value: number } | undefined
  /** value ÷ baseline (the goal's terms when it is a ratio). */
  readonly ratio?: number | undefined
  /** value − baseline (the goal's terms when it is time added). */
  readonly added?: number | undefined
  /** The goal in words ("≥ 0.9× pg", "≤ 20 µs added", "exactly 1"), and whether it is met. */
  readonly goal?: string | undefined
  readonly met?: boolean | undefined
}

export interface BenchReport {
  readonly bench: string
  readonly quick: boolean
  readonly figures: Array<Figure>
}

/** A bench's report: `add` its figures as it goes; `write` once at the end (a no-op without `--json`). */
export const makeReport = (bench: string, options: { readonly json?: string | undefined; readonly quick: boolean }) => {
  const report: BenchReport = { bench, quick: options.quick, figures: [] }
  return {
    add: (figure: Figure) => {
      report.figures.push(figure)
    },
    /** A figure against its baseline: the ratio is computed. */
    ratio: (
      figure: string,
      unit: string,
      value: number,
      baseline: { readonly name: string; readonly value: number },
      goal?: { readonly text: string; readonly min: number }
    ) => {
      const ratio = value / baseline.value
      report.figures.push({
        figure,
        value,
        unit,
        baseline,
        ratio,
        goal: goal?.text,
        met: goal === undefined ? undefined : ratio >= goal.min
      })
      return ratio
    },
    write: () => {
      if (options.json !== undefined) writeFileSync(options.json, JSON.stringify(report, null, 2))
    }
  }
}
