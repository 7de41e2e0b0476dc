// Two router processes on one database: this test's and a child's (test/fixtures/planner.ts). What
// one learns (a usage limit) the other knows within a second, without a 429 of its own; both map a
// prompt cache key to the same account.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { TestDatabase } from "@nexus/testing"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import { SqlError } from "effect/sql"
import { AccountPool } from "../src/AccountPool.ts"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import type { RouteRequest } from "../src/Route.ts"
import { Router } from "../src/Router.ts"
import { Infrastructure, requestsByAccount, routerStack, TEST_KEY, threeAccounts } from "./helpers.ts"

const fixture = new URL("./fixtures/planner.ts", import.meta.url).pathname

/**
 * The child router, over this test's database and emulator: asks it for a plan's first account (or
 * its failure), one request at a time.
 */
const childRouter = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  const database = yield* TestDatabase.TestDatabase
  const env = {
    DATABASE_URL: database.url,
    CODEX_BASE_URL: emulator.urls.codexBaseUrl,
    CODEX_ISSUER: emulator.urls.issuer,
    NEXUS_TOKEN_KEY: TEST_KEY
  }
  return yield* Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{
          readonly ask: (request: RouteRequest) => Promise<{ accountId?: string; error?: string }>
          readonly kill: () => void
        }>((resolve, reject) => {
          const child = spawn(process.execPath, [fixture], {
            env: { ...process.env, ...env },
            stdio: ["pipe", "pipe", "inherit"]
          })
          const lines = createInterface({ input: child.stdout! })
          const waiting: Array<(line: string) => void> = []
          lines.on("line", (line) => waiting.shift()?.(line))
          child.once("exit", (code) => reject(new Error(`the child router exited with ${code}`)))
          waiting.push(() =>
            resolve({
              ask: (request) =>
                new Promise((answer) => {
                  waiting.push((line) => answer(JSON.parse(line)))
                  child.stdin!.write(`${JSON.stringify(request)}\n`)
                }),
              kill: () => child.kill("SIGTERM")
            })
          )
        })
    ),
    (child) => Effect.sync(child.kill)
  )
})

layer(Infrastructure, { excludeTestServices: true, timeout: 120_000 })("two router processes", (outer) => {
  outer.layer(routerStack(), { timeout: 120_000 })("this process and a child", (it) => {
    it.effect(
      "a prompt cache key maps to the same account in both; a usage limit one process meets stops the other from choosing that account within 1 s",
      () =>
        Effect.gen(function* () {
          const { a, b, c } = yield* threeAccounts()
          const child = yield* childRouter
          const router = yield* Router
          const request = (key: string): RouteRequest => ({
            taskType: "chat",
            complexity: "simple",
            promptCacheKey: key
          })
          const here = (key: string) => Effect.map(router.plan(request(key)), (plan) => plan.attempts[0].accountId)
          const there = (key: string) => Effect.promise(() => child.ask(request(key)))

          const keys = Array.from({ length: 24 }, (_, i) => `conversation-${i}`)
          const chosen: Array<string> = []
          for (const key of keys) {
            const mine = yield* here(key)
            assert.deepStrictEqual(yield* there(key), { accountId: mine }, `the processes disagree on ${key}`)
            chosen.push(mine)
          }
          // The keys spread over the accounts.
          assert.isAbove(new Set(chosen).size, 1)

          // This process meets the usage limit of the account the first key sticks to.
          const sticky = chosen[0]!
          yield* Effect.flatMap(Emulator.Emulator, (emulator) =>
            emulator.injectFault({ kind: "usage_limit", account: sticky, times: 1 })
          )
          const routed = yield* router.execute(request(keys[0]!), { messages: [{ role: "user", content: "hi" }] })
          assert.notStrictEqual(routed.route.served.accountId, sticky)
          const childRequestsBefore = (yield* requestsByAccount)[sticky] ?? 0

          const started = Date.now()
          let moved: string | undefined
          while (Date.now() - started < 3_000) {
            const answer = yield* there(keys[0]!)
            if (answer.accountId !== sticky) {
              moved = answer.accountId
              break
            }
            yield* Effect.sleep("20 millis")
          }
          const elapsed = Date.now() - started
          assert.isDefined(moved, "the child kept choosing the blocked account")
          assert.isBelow(elapsed, 1_000, `the child took ${elapsed} ms to learn of the block`)
          // It never asked the backend itself, and it moved where this process moves.
          assert.strictEqual((yield* requestsByAccount)[sticky] ?? 0, childRequestsBefore)
          assert.strictEqual(moved, yield* here(keys[0]!))
          assert.include([a.id, b.id, c.id], moved)
          // Keys that stuck to other accounts stay where they were.
          for (let i = 1; i < keys.length; i++) {
            if (chosen[i] !== sticky) assert.deepStrictEqual(yield* there(keys[i]!), { accountId: chosen[i] })
          }
        })
    )

    it.effect(
      "with the listening connections terminated, a process still learns of a block within 2 s (poll, then LISTEN again)",
      () =>
        Effect.gen(function* () {
          const { a, b, c } = yield* threeAccounts()
          const child = yield* childRouter
          const request: RouteRequest = { taskType: "chat", complexity: "simple" }
          const first = yield* Effect.promise(() => child.ask(request))
          assert.include([a.id, b.id, c.id], first.accountId)
          const sql = yield* PgClient.PgClient
          const killed = yield* sql<{ readonly pid: number }>`
          SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'`
          assert.isAbove(killed.length, 0)
          yield* sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'`
          // Blocked by another instance, straight in the table: the notification has no listener.
          yield* sql`INSERT INTO nexus.account_blocks (account_id, blocked_until, reason)
          VALUES (${first.accountId!}, now() + interval '1 hour', 'usage_limit_reached')`
          const started = Date.now()
          let moved = false
          while (Date.now() - started < 5_000) {
            if ((yield* Effect.promise(() => child.ask(request))).accountId !== first.accountId) {
              moved = true
              break
            }
            yield* Effect.sleep("50 millis")
          }
          const elapsed = Date.now() - started
          assert.isTrue(moved, "the child never learned of the block")
          assert.isBelow(elapsed, 2_000, `the child took ${elapsed} ms without notifications`)
        })
    )

    it.effect(
      "a process whose LISTEN never works (a pooler that does not pass it) still reads every change within 2 s",
      () =>
        Effect.gen(function* () {
          const { a } = yield* threeAccounts()
          const sql = yield* PgClient.PgClient
          // The same client, except that LISTEN is refused, as behind a transaction-mode pooler.
          const refusing: typeof sql = Object.assign((...args: Parameters<typeof sql>) => sql(...args), sql, {
            listen: () =>
              Effect.fail(
                new SqlError.SqlError({
                  reason: new SqlError.ConnectionError({ cause: "LISTEN is not supported", message: "LISTEN refused" })
                })
              )
          })
          const context = yield* Layer.build(
            Layer.fresh(AccountPool.layer).pipe(Layer.provide(Layer.succeed(PgClient.PgClient)(refusing)))
          )
          const pool = Context.get(context, AccountPool)
          yield* sql`INSERT INTO nexus.account_blocks (account_id, blocked_until, reason)
          VALUES (${a.id}, now() + interval '1 hour', 'usage_limit_reached')`
          const started = Date.now()
          while (Date.now() - started < 5_000) {
            if ((yield* pool.state).blocks.has(a.id)) break
            yield* Effect.sleep("50 millis")
          }
          const elapsed = Date.now() - started
          assert.isTrue((yield* pool.state).blocks.has(a.id), "the pool never read the block")
          assert.isBelow(elapsed, 2_000, `the pool took ${elapsed} ms without LISTEN`)
        }).pipe(Effect.scoped)
    )
  })
})
