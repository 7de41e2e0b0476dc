// `nexus demo` as a newcomer runs it: a child process on a machine with no database configured,
// every outcome line checked, and nothing of it left afterwards — no process, no server, no file.
import { assert, describe, it } from "@effect/vitest"
import { Embedded } from "@nexus/database"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { start, tempDir } from "./helpers.ts"

/** The command lines of every process still running. */
const processes = () => execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })

describe("nexus demo", () => {
  it.live(
    "runs the whole of Nexus offline and prints one outcome per request; leaves nothing running and nothing on disk",
    () =>
      Effect.gen(function* () {
        const tmp = tempDir("nexus-demo-test-")
        const env: Record<string, string | undefined> = {
          PATH: process.env["PATH"],
          HOME: tempDir("nexus-demo-home-"),
          TMPDIR: tmp
        }
        const outcome = yield* Effect.promise(() => start(["demo"], env, 110_000).done)
        assert.strictEqual(outcome.code, 0, `${outcome.stdout}\n${outcome.stderr}`)
        const out = outcome.stdout
        const dataDir = /data in (\S+)\)/.exec(out)?.[1]
        assert.isDefined(dataDir)
        assert.isTrue(dataDir!.startsWith(tmp))

        for (const line of [
          "a Plus and a Pro account",
          "embedded PostgreSQL 18 on 127.0.0.1:",
          "nexus db migrate: the Nexus tables, pgmq and the queues",
          "plus and pro signed in through the device flow",
          "two workers (nexus worker, pids"
        ]) {
          assert.include(out, line)
        }
        const table = out.slice(out.indexOf("request    task/complexity"))
        const row = (name: string) => table.split("\n").find((line) => line.startsWith(`${name} `)) ?? ""
        for (const name of ["greet", "summary", "classify", "translate", "extract", "review", "codegen", "design"]) {
          assert.match(row(name), /on (plus|pro) .* ms +ok$/, name)
        }
        assert.match(row("weather"), /tool call get_weather\(\{"city":"Paris"\}\)$/)
        assert.match(row("limit"), /on (plus|pro) \(skipped (plus|pro): usage_limit\).*ok after a usage limit/)
        assert.match(row("story"), /streamed through the router .* \d+ words streamed$/)
        assert.match(row("broken"), /llm_requests_dlq .*dead-lettered: Missing key at \["id"\]$/)
        assert.include(out, "12 requests, each with exactly one outcome")
        assert.include(out, "Nothing is left running.")

        // Nothing left: no worker, no server of its data dir (wherever its cluster was), no file.
        const workers = /pids (\d+) and (\d+)\)/.exec(out)!.slice(1).map(Number)
        for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} still runs`)
        const status = yield* Embedded.EmbeddedPostgres.make(dataDir!).status
        assert.strictEqual(status.state, "absent")
        assert.notInclude(processes(), status.cluster)
        assert.notInclude(processes(), dataDir!)
        assert.isFalse(existsSync(status.cluster))
        assert.isFalse(existsSync(dataDir!))
        assert.deepStrictEqual(readdirSync(tmp), [])
      }),
    120_000
  )
})
