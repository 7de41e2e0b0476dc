// The policy: the built-in table, selectors over the catalog's metadata, files and their errors.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import type { ModelCatalog } from "@nexus/provider-codex"
import { ConfigProvider, Duration, Effect, Layer, Option } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { defaults, fromFile, fromText, matchRule, RoutingPolicy, selectModel } from "../src/RoutingPolicy.ts"

const levels = (...efforts: Array<string>) => efforts.map((effort) => ({ effort }))
const catalog: ReadonlyArray<ModelCatalog.ModelInfo> = [
  {
    slug: "legacy",
    priority: 13,
    context_window: 272_000,
    supported_reasoning_levels: levels("low", "medium", "high")
  },
  {
    slug: "top",
    priority: 1,
    context_window: 272_000,
    supported_reasoning_levels: levels("low", "medium", "high", "xhigh", "max")
  },
  {
    slug: "second",
    priority: 2,
    context_window: 272_000,
    supported_reasoning_levels: levels("low", "medium", "high", "xhigh", "max")
  },
  {
    slug: "wide",
    priority: 7,
    context_window: 500_000,
    supported_reasoning_levels: levels("low", "medium", "high", "xhigh", "max")
  },
  {
    slug: "lite",
    priority: 4,
    context_window: 272_000,
    supported_reasoning_levels: levels("low", "medium", "high", "xhigh")
  },
  {
    slug: "hidden",
    priority: 0,
    context_window: 900_000,
    visibility: "hide",
    supported_reasoning_levels: levels("low", "max", "ultra", "x", "y", "z")
  }
]

describe("the built-in policy", () => {
  const first = (complexity: "simple" | "medium" | "complex", taskType: string) =>
    Option.map(matchRule(defaults, complexity, taskType), ({ rule }) => rule.candidates[0])

  it("reproduces the seed's table, then a catch-all per complexity", () => {
    assert.deepStrictEqual(first("complex", "code_generation"), Option.some({ model: "gpt-5-codex", effort: "high" }))
    assert.deepStrictEqual(first("complex", "architect"), Option.some({ model: "gpt-5-codex", effort: "high" }))
    assert.deepStrictEqual(first("medium", "coder"), Option.some({ model: "gpt-4o", effort: "medium" }))
    assert.deepStrictEqual(first("simple", "anything"), Option.some({ model: "@small", effort: "low" }))
    assert.deepStrictEqual(first("medium", "anything"), Option.some({ model: "@strongest", effort: "medium" }))
    assert.deepStrictEqual(first("complex", "coder"), Option.some({ model: "@strongest", effort: "high" }))
    for (const rule of defaults.rules) assert.strictEqual(rule.candidates.at(-1)!.model, "@largest")
  })

  it("selectors follow the catalog's metadata: most reasoning levels, then priority; fewer levels; widest context", () => {
    assert.deepStrictEqual(selectModel("@strongest", catalog), Option.some("top"))
    assert.deepStrictEqual(selectModel("@small", catalog), Option.some("lite"))
    assert.deepStrictEqual(selectModel("@largest", catalog), Option.some("wide"))
    assert.isUndefined(selectModel("gpt-5.5", catalog))
    assert.deepStrictEqual(selectModel("@strongest", []), Option.none())
    // One tier only: @small is the strongest.
    assert.deepStrictEqual(selectModel("@small", catalog.slice(1, 3)), Option.some("top"))
  })
})

describe("a policy file", () => {
  it.effect("YAML: wildcards, effort, the pool's cap and the cooldown", () =>
    Effect.gen(function* () {
      const policy = yield* fromText(
        "routes.yaml",
        [
          "max_in_flight_per_account: 4",
          "cooldown: { failures: 5, window: 2 minutes, duration: 10 seconds }",
          "rules:",
          "  - task_type: reviewer",
          "    candidates:",
          "      - model: gpt-5.5",
          "        effort: xhigh",
          "  - complexity: '*'",
          "    candidates: [{ model: '@strongest' }]"
        ].join("\n")
      )
      assert.strictEqual(policy.source, "routes.yaml")
      assert.strictEqual(policy.maxInFlightPerAccount, 4)
      assert.strictEqual(policy.cooldown.failures, 5)
      assert.strictEqual(Duration.toMillis(policy.cooldown.window), 120_000)
      assert.strictEqual(Duration.toMillis(policy.cooldown.duration), 10_000)
      assert.deepStrictEqual(
        Option.map(matchRule(policy, "simple", "reviewer"), ({ index }) => index),
        Option.some(0)
      )
      assert.deepStrictEqual(
        Option.map(matchRule(policy, "complex", "coder"), ({ index }) => index),
        Option.some(1)
      )
    })
  )

  it.effect("an error names the file, the key path and what was expected", () =>
    Effect.gen(function* () {
      const wrong = yield* Effect.flip(
        fromText("routes.yaml", "rules:\n  - complexity: hard\n    candidates:\n      - model: 3\n")
      )
      assert.strictEqual(wrong._tag, "PolicyInvalid")
      assert.include(wrong.message, "routes.yaml")
      assert.include(wrong.message, `at ["rules"][0]["complexity"]`)
      assert.include(wrong.message, `Expected "simple" | "medium" | "complex" | "*" at ["rules"][0]["complexity"]; `)
      assert.include(wrong.message, `at ["rules"][0]["candidates"][0]["model"]`)

      const typo = yield* Effect.flip(
        fromText("p.json", `{"rules": [{"task-type": "x", "candidates": [{"model": "a"}]}]}`)
      )
      assert.include(typo.message, "task-type")

      const selector = yield* Effect.flip(fromText("p.yaml", "rules: [{ candidates: [{ model: '@biggest' }] }]"))
      assert.include(selector.message, "a selector is one of @strongest, @small, @largest")

      const notJson = yield* Effect.flip(fromText("p.json", "rules: []"))
      assert.include(notJson.message, "it is not JSON")

      const empty = yield* Effect.flip(fromText("p.yaml", "rules: []"))
      assert.include(empty.message, `["rules"]`)
    })
  )

  it.effect("NEXUS_ROUTER_CONFIG names the file; a missing file says it cannot be read; unset means the defaults", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "nexus-router-policy-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const file = join(dir, "routes.json")
      writeFileSync(file, JSON.stringify({ rules: [{ candidates: [{ model: "gpt-5.5" }] }] }))
      const withEnv = (env: Record<string, string>) =>
        Effect.provide(
          Effect.map(RoutingPolicy, (policy) => policy),
          RoutingPolicy.layer.pipe(
            Layer.provide(NodeFileSystem.layer),
            Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
          )
        )
      const loaded = yield* withEnv({ NEXUS_ROUTER_CONFIG: file })
      assert.strictEqual(loaded.source, file)
      assert.strictEqual(loaded.rules[0]!.candidates[0]!.model, "gpt-5.5")
      assert.strictEqual((yield* withEnv({})).source, "built-in defaults")
      const missing = yield* Effect.flip(fromFile(join(dir, "nope.yaml"))).pipe(Effect.provide(NodeFileSystem.layer))
      assert.include(missing.message, "it cannot be read")
      assert.include(missing.message, "nope.yaml")
    }).pipe(Effect.scoped)
  )
})
