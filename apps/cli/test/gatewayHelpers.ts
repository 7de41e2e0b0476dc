// `nexus serve` and its keys for the gateway's end-to-end tests: a key made with the CLI, and the
// gateway as a real child process on a free port, stopped with SIGTERM when the test's scope closes.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { type Env, nexus, start } from "./helpers.ts"

/** A key made with `nexus gateway keys create NAME --json`. */
export const createKey = (env: Env, name: string) =>
  Effect.gen(function* () {
    const made = yield* nexus(["gateway", "keys", "create", name, "--json"], env)
    assert.strictEqual(made.code, 0, made.stderr)
    const parsed = JSON.parse(made.stdout) as { readonly key: string; readonly id: string }
    assert.match(parsed.key, /^nxs_[A-Za-z0-9_-]{32}$/)
    return parsed
  })

/** `nexus serve --port 0` and its base URL once it listens; stopped (SIGTERM, then awaited) with the scope. */
export const serve = (env: Env) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const running = start(["serve", "--port", "0"], env, 120_000)
      const [, port] = await running.waitForLog(/gateway listening.*?:(\d+)/)
      return { running, baseURL: `http://127.0.0.1:${port}/v1` }
    }),
    ({ running }) =>
      Effect.promise(() => {
        running.child.kill("SIGTERM")
        return running.done
      })
  )

/**
 * What `nexus gateway usage --json` says of the key named `name`: its rows summed (requests,
 * errors, output tokens), and the command's output (to check it for secrets).
 */
export const usageOf = (env: Env, name: string) =>
  Effect.gen(function* () {
    const output = yield* nexus(["gateway", "usage", "--json"], env)
    assert.strictEqual(output.code, 0, output.stderr)
    const rows = JSON.parse(output.stdout) as Array<{
      readonly key: string
      readonly requests: number
      readonly errors: number
      readonly outputTokens: number
    }>
    const totals = { requests: 0, errors: 0, outputTokens: 0 }
    for (const row of rows) {
      if (row.key !== name) continue
      totals.requests += row.requests
      totals.errors += row.errors
      totals.outputTokens += row.outputTokens
    }
    return { totals, output }
  })
