// `nexus route`, `nexus route check`, `nexus accounts` and a routed `nexus chat`, end to end: real
// child processes against a scratch database and the emulator, with two accounts in the pool.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { childEnv, nexus, tempDir, TestLive } from "./helpers.ts"
import { reset, signIn } from "./session.ts"

layer(TestLive, { excludeTestServices: true, timeout: 120_000 })("nexus route, accounts and a routed chat", (it) => {
  it.effect("route check validates a policy file and prints its table; a wrong one names the key path", () =>
    Effect.gen(function* () {
      const env = yield* childEnv
      const dir = tempDir("nexus-cli-route-")
      const good = join(dir, "routes.yaml")
      writeFileSync(
        good,
        [
          "max_in_flight_per_account: 8",
          "rules:",
          "  - complexity: complex",
          "    task_type: architect",
          "    candidates: [{ model: gpt-5-codex, effort: high }, { model: '@largest', effort: ultra }]",
          "  - candidates: [{ model: '@small', effort: low }, { model: gpt-9 }]"
        ].join("\n")
      )
      const checked = yield* nexus(["route", "check", good], env)
      assert.strictEqual(checked.code, 0, checked.stderr)
      assert.include(checked.stdout, `${good} is valid: 2 rules`)
      assert.include(checked.stdout, "max in flight per account 8")
      assert.match(
        checked.stdout,
        / 1\. complex \/ architect\s+gpt-5-codex → gpt-5\.5 @high, @largest → gpt-6\.1-terra @ultra/
      )
      assert.match(checked.stdout, / 2\. \* \/ \*\s+@small → gpt-6-luna @low, gpt-9 \(not in the catalog\)/)

      const bad = join(dir, "bad.yaml")
      writeFileSync(bad, "rules:\n  - complexity: hard\n    candidates: [{ model: gpt-5.5 }]\n")
      const refused = yield* nexus(["route", "check", bad], env)
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, `The routing policy ${bad} is invalid`)
      assert.include(refused.stderr, `at ["rules"][0]["complexity"]`)
      assert.strictEqual(refused.stdout, "")
    }).pipe(Effect.scoped)
  )

  it.effect(
    "chat without --account is routed and says who answered; a usage limit moves it to the other account, which route --explain and accounts then show",
    () =>
      Effect.gen(function* () {
        yield* reset
        const env = yield* childEnv
        const first = yield* signIn(env, "alpha", "plus")
        const second = yield* signIn(env, "beta", "pro")

        const planned = yield* nexus(["route", "--task", "coder", "--complexity", "medium", "--json"], env)
        assert.strictEqual(planned.code, 0, planned.stderr)
        const plan = JSON.parse(planned.stdout) as {
          rule: number
          attempts: Array<{ model: string; requested: string; accountId: string }>
        }
        // The seed's table: medium coding goes to gpt-4o, which the catalog resolves to gpt-5.5.
        assert.strictEqual(plan.rule, 2)
        assert.deepStrictEqual(plan.attempts[0], { ...plan.attempts[0]!, model: "gpt-5.5", requested: "gpt-4o" })
        assert.sameMembers(
          plan.attempts.filter((attempt) => attempt.model === "gpt-5.5").map((attempt) => attempt.accountId),
          [first, second]
        )

        const emulator = yield* Emulator.Emulator
        const blocked = plan.attempts[0]!.accountId
        const other = blocked === first ? "beta" : "alpha"
        yield* emulator.injectFault({ kind: "usage_limit", account: blocked, times: 1 })
        const answered = yield* nexus(["chat", "--task", "coder", "hello routed"], env)
        assert.strictEqual(answered.code, 0, answered.stderr)
        assert.strictEqual(answered.stdout, "hello routed\n")
        assert.match(answered.stderr, new RegExp(`\\(gpt-5\\.5 on ${other}: \\d+ tokens in, \\d+ out\\)`))

        const explained = yield* nexus(["route", "--task", "coder", "--explain"], env)
        assert.strictEqual(explained.code, 0, explained.stderr)
        assert.match(explained.stdout, / 1\. gpt-5\.5 \(gpt-4o\) @medium on (alpha|beta)/)
        assert.match(
          explained.stdout,
          new RegExp(`gpt-4o \\(medium\\) on ${other === "beta" ? "alpha" : "beta"}: usage_limit`)
        )

        const pool = yield* nexus(["accounts"], env)
        assert.strictEqual(pool.code, 0, pool.stderr)
        assert.match(pool.stdout, /blocked {5}until in \d+ h/)
        const entries = JSON.parse((yield* nexus(["accounts", "--json"], env)).stdout) as Array<{
          accountId: string
          blockedUntil: string | null
        }>
        assert.isNotNull(entries.find((entry) => entry.accountId === blocked)!.blockedUntil)
        assert.isNull(entries.find((entry) => entry.accountId !== blocked)!.blockedUntil)
        for (const text of [pool.stdout, planned.stdout, explained.stdout]) assert.notInclude(text, "eyJ")

        // Pinned to the blocked account, the limit is the caller's: no other account answers.
        const pinned = yield* nexus(["chat", "--account", blocked === first ? "alpha" : "beta", "only you"], env)
        assert.strictEqual(pinned.code, 1)
        assert.include(pinned.stderr, "usage limit")
        assert.strictEqual(pinned.stdout, "")
      })
  )
})
