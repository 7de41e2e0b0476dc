// How long `nexus` takes to start, beside `node -e 0` measured in the same run (medians of --runs):
//   - `nexus --help`, from the bundle (`pnpm build`, rebuilt here when a source is newer) and from the sources;
//   - `nexus status`: one signed-in account on the embedded PostgreSQL (running) — or, when
//     `DATABASE_URL` is set (as `./dev bench` does), on a scratch database of that server — bundle and sources.
// The goal: --help and status within 0.4 s (wall clock, the process's whole life).
//   node tooling/bench/startup.ts [--runs 10] [--quick] [--json FILE]
import { Embedded } from "@nexus/database"
import { TestDatabase } from "@nexus/testing"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { benchArgs } from "./args.ts"
import { bundle as cliBundle, freshBundles, root } from "./bundles.ts"
import { startServer } from "./children.ts"
import { makeReport } from "./report.ts"

const values = benchArgs({ runs: { type: "string", default: "10" } }, { runs: "3" })
const report = makeReport("startup", values)
const runs = Math.max(3, Number(values.runs))
const bundle = cliBundle("cli")
const sources = join(root, "apps/cli/src/bin.ts")
freshBundles()

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const dataDir = mkdtempSync(join(tmpdir(), "nexus-bench-startup-"))
const emulator = await startServer(["packages/codex-emulator/src/bin.ts", "--port", "0"])
const urls = emulator.info as { issuer: string; codexBaseUrl: string; adminUrl: string }
const env: Record<string, string> = {
  PATH: process.env["PATH"] ?? "",
  HOME: dataDir,
  NEXUS_DATA_DIR: dataDir,
  NEXUS_TOKEN_FILE: join(dataDir, "tokens.json"),
  NEXUS_TOKEN_KEY: randomBytes(32).toString("base64"),
  CODEX_ISSUER: urls.issuer,
  CODEX_BASE_URL: urls.codexBaseUrl,
  NEXUS_LOG_LEVEL: "warn",
  NO_COLOR: "1"
}
const given = process.env["DATABASE_URL"]
const scratch = given === undefined || given === "" ? undefined : await TestDatabase.createTestDatabase()
const server = Embedded.EmbeddedPostgres.make(dataDir)
if (scratch !== undefined) env["DATABASE_URL"] = scratch.url

try {
  const post = async (path: string, body?: unknown) =>
    (
      await fetch(`${urls.adminUrl}${path}`, {
        method: "POST",
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      })
    ).json() as Promise<Record<string, string>>
  const account = await post("/accounts", { email: "startup@example.com", plan: "plus" })
  const tokens = await post(`/accounts/${account["id"]}/tokens`)
  const once = (file: string, args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
    const started = performance.now()
    const outcome = spawnSync(process.execPath, [file, ...args], { env: { ...env, ...extra }, encoding: "utf8" })
    if (outcome.status !== 0) throw new Error(`${args.join(" ")}: ${outcome.stderr}`)
    return performance.now() - started
  }
  once(bundle, ["db", "migrate"])
  once(bundle, ["login", "--from-env"], {
    CODEX_ACCESS_TOKEN: tokens["access_token"]!,
    CODEX_REFRESH_TOKEN: tokens["refresh_token"]!,
    CODEX_ACCOUNT_ID: account["id"]!
  })

  const all: ReadonlyArray<readonly [string, () => number]> = [
    ["node -e 0", () => once("-e", ["0"])],
    ["nexus --help (bundle)", () => once(bundle, ["--help"])],
    ["nexus --help (sources)", () => once(sources, ["--help"])],
    ["nexus status (bundle)", () => once(bundle, ["status"])],
    ["nexus status (sources)", () => once(sources, ["status"])]
  ]
  // --quick leaves out the sources (a second each), which only show what the bundle saves.
  const cases = all.filter(([name]) => !values.quick || !name.endsWith("(sources)"))
  const times = new Map(cases.map(([name]) => [name, [] as Array<number>]))
  // Interleaved, so that a slow moment of the machine falls on every case alike.
  for (let run = 0; run < runs; run++) for (const [name, measure] of cases) times.get(name)!.push(measure())
  const baseline = median(times.get("node -e 0")!)
  console.log(
    `start-up, medians of ${runs} runs (${scratch === undefined ? "the embedded PostgreSQL" : "the DATABASE_URL server"} running, one account signed in):`
  )
  for (const [name] of cases) {
    const ms = median(times.get(name)!)
    const goal = name === "node -e 0" ? "" : `  goal ≤ 400 ms: ${ms <= 400 ? "met" : "NOT met"}`
    if (name !== "node -e 0") {
      report.add({
        figure: `${name} start-up`,
        value: ms,
        unit: "ms",
        baseline: { name: "node -e 0", value: baseline },
        ratio: ms / baseline,
        added: ms - baseline,
        ...(name.endsWith("(bundle)") ? { goal: "≤ 400 ms", met: ms <= 400 } : {})
      })
    }
    console.log(
      `  ${name.padEnd(24)} ${ms.toFixed(0).padStart(5)} ms  (${(ms / baseline).toFixed(1)}× node -e 0, +${(ms - baseline).toFixed(0)} ms)${goal}`
    )
  }
  report.write()
} finally {
  emulator.child.kill("SIGKILL")
  await Effect.runPromise(Effect.ignore(server.destroy))
  await scratch?.drop()
  rmSync(dataDir, { recursive: true, force: true })
}
