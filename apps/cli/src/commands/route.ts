/**
 * `nexus route`: the plan the router makes for a request, without calling the backend; `nexus
 * route check FILE`: a routing policy file validated, and the table it yields.
 *
 * @since 0.1.0
 */
import { ModelCatalog } from "@nexus/provider-codex"
import { type Route, Router, RoutingPolicy } from "@nexus/router"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { RouterLive } from "../Services.ts"

/** The flags that make a route request (shared with `nexus chat`). */
export const requestFlags = {
  task: Flag.String("task").pipe(
    Flag.withDescription("The task type the policy matches (e.g. coder, architect, code_generation)"),
    Flag.withDefault("chat")
  ),
  complexity: Flag.Literals("complexity", ["simple", "medium", "complex"]).pipe(
    Flag.withDescription("How demanding the request is"),
    Flag.withDefault("medium" as const)
  ),
  effort: Flag.String("effort").pipe(
    Flag.withDescription("Reasoning effort, over the policy's: one the model lists (`nexus models`)"),
    Flag.optional
  ),
  key: Flag.String("key").pipe(
    Flag.withDescription("A prompt cache key: requests with the same key go to the same account while it has room"),
    Flag.optional
  )
}

/** A route request from the command line. */
export const routeRequest = (input: {
  readonly task: string
  readonly complexity: Route.RouteRequest["complexity"]
  readonly model: Option.Option<string>
  readonly account: Option.Option<string>
  readonly effort: Option.Option<string>
  readonly key: Option.Option<string>
}): Route.RouteRequest => ({
  taskType: input.task,
  complexity: input.complexity,
  ...(Option.isSome(input.model) ? { model: input.model.value } : {}),
  ...(Option.isSome(input.account) ? { account: input.account.value } : {}),
  ...(Option.isSome(input.effort) ? { effort: input.effort.value } : {}),
  ...(Option.isSome(input.key) ? { promptCacheKey: input.key.value } : {})
})

const until = (millis: number | undefined) => (millis === undefined ? "" : ` until ${new Date(millis).toISOString()}`)

/** One skipped candidate, in a line. */
export const skipLine = (skip: Route.Skip) =>
  `${skip.model}${skip.effort ? ` (${skip.effort})` : ""}${skip.account ? ` on ${skip.account}` : ""}: ${skip.reason} — ${skip.detail}${until(skip.until)}`

const check = Command.make(
  "check",
  {
    file: Argument.String("file").pipe(
      Argument.withDescription("The policy file (YAML, or JSON when it ends in .json)")
    ),
    json: Flags.json("the table")
  },
  Effect.fn("nexus.route.check")(function* ({ file, json }) {
    const policy = yield* RoutingPolicy.fromFile(file)
    const rows = RoutingPolicy.table(policy, ModelCatalog.bundled, ModelCatalog.defaultAliases)
    if (json) return yield* Console.log(JSON.stringify({ file, rules: rows }, null, 2))
    yield* Console.log(
      `${file} is valid: ${rows.length} rule${rows.length === 1 ? "" : "s"}, first match wins; max in flight per account ${policy.maxInFlightPerAccount === 0 ? "unlimited" : policy.maxInFlightPerAccount}; cooldown after ${policy.cooldown.failures} failures.`
    )
    yield* Console.log(
      "(selectors and aliases resolved against the bundled catalog; `nexus route` plans with the live one)"
    )
    const width = Math.max(10, ...rows.map((row) => row.complexity.length + row.taskType.length + 3))
    for (const [index, row] of rows.entries()) {
      const candidates = row.candidates
        .map(
          (candidate) =>
            `${candidate.model}${candidate.slug !== undefined && candidate.slug !== candidate.model ? ` → ${candidate.slug}` : candidate.slug === undefined ? " (not in the catalog)" : ""}${candidate.effort ? ` @${candidate.effort}${candidate.effortUnsupported ? " (unsupported: model default)" : ""}` : ""}`
        )
        .join(", ")
      yield* Console.log(
        `${String(index + 1).padStart(2)}. ${`${row.complexity} / ${row.taskType}`.padEnd(width)}  ${candidates}`
      )
    }
  })
).pipe(
  Command.withDescription("Validate a routing policy file and print the table it yields"),
  Command.withExamples([
    { command: "nexus route check routes.yaml", description: "Validate a policy file, see its table" },
    { command: "nexus route check routes.json --json", description: "The table as JSON" }
  ])
)

/**
 * `nexus route`.
 *
 * @since 0.1.0
 * @category commands
 */
export const route = Command.make(
  "route",
  {
    ...requestFlags,
    model: Flag.String("model").pipe(Flag.withDescription("Pin the model (a slug or an alias)"), Flag.optional),
    account: Flags.account,
    explain: Flag.Boolean("explain").pipe(
      Flag.withDescription("Also show the rule that matched and every skipped candidate, with why"),
      Flag.withDefault(false),
      Flag.withoutNegation
    ),
    json: Flags.json("the plan")
  },
  Effect.fn("nexus.route")(function* (input) {
    const router = yield* Router.Router
    const plan = yield* router.plan(routeRequest(input))
    if (input.json) {
      return yield* Console.log(
        JSON.stringify(
          {
            rule: plan.rule,
            attempts: plan.attempts.map((attempt) => ({
              model: attempt.model,
              requested: attempt.requested,
              effort: attempt.effort ?? null,
              account: attempt.label ?? attempt.accountId,
              accountId: attempt.accountId
            })),
            skipped: plan.skipped
          },
          null,
          2
        )
      )
    }
    yield* Console.log(
      `Plan for ${input.complexity} / ${input.task}${plan.rule === "pinned" ? " (pinned model)" : ` (rule ${plan.rule + 1})`}:`
    )
    for (const [index, attempt] of plan.attempts.entries()) {
      yield* Console.log(
        `${String(index + 1).padStart(2)}. ${attempt.model}${attempt.requested !== attempt.model ? ` (${attempt.requested})` : ""} @${attempt.effort ?? "default"} on ${attempt.label ?? attempt.accountId}`
      )
    }
    if (input.explain) {
      yield* Console.log(plan.skipped.length === 0 ? "Nothing skipped." : "Skipped:")
      for (const skip of plan.skipped) yield* Console.log(`  ${skipLine(skip)}`)
    }
  })
).pipe(
  Command.withDescription(
    "Show the plan the router makes for a request (which model, effort and account), without calling the backend"
  ),
  Command.withExamples([
    {
      command: "nexus route --task coder --complexity medium --explain",
      description: "What a medium coding request gets, and why"
    },
    { command: "nexus route check routes.yaml", description: "Validate a policy file" }
  ]),
  // The parent's handler only: `route check` reads a file and connects to nothing.
  Command.provide(RouterLive),
  Command.withSubcommands([check])
)
