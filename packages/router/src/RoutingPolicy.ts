/**
 * The routing policy: rules that map a request's (complexity, task type) to an ordered list of
 * candidates `{model, effort?}`, the first matching rule winning; the pool's limits (in-flight
 * requests per account) and the cooldown of an (account, model) that keeps failing. Built-in
 * defaults reproduce the seed's `select_model` table; a file named by `NEXUS_ROUTER_CONFIG` (YAML
 * or JSON) replaces them.
 *
 * A candidate's model is a catalog slug, an alias (`gpt-5-codex`, resolved by `ModelCatalog`), or
 * a selector the catalog's metadata answers, so that the defaults follow the catalog rather than
 * hard-coded slugs: `@strongest` (the best-ranked listed model among those with the most reasoning
 * levels), `@small` (the best-ranked listed model with fewer reasoning levels than that) and
 * `@largest` (the listed model with the largest context window, best-ranked first), the fallback
 * when a conversation outgrows the others.
 *
 * @since 0.1.0
 */
import { Config, Context, Duration, Effect, FileSystem, Layer, Option, Schema } from "effect"
import * as Yaml from "effect/encoding/Yaml"
import type { ModelCatalog } from "@nexus/provider-codex"

/**
 * How demanding a request is (design §4).
 *
 * @since 0.1.0
 * @category models
 */
export const Complexity = Schema.Literals(["simple", "medium", "complex"])

/**
 * @since 0.1.0
 * @category models
 */
export type Complexity = typeof Complexity.Type

/**
 * The selectors a candidate's model may be instead of a slug.
 *
 * @since 0.1.0
 * @category models
 */
export const SELECTORS = ["@strongest", "@small", "@largest"] as const

/**
 * Whether a model name is a selector.
 *
 * @since 0.1.0
 * @category models
 */
export const isSelector = (model: string): boolean => (SELECTORS as ReadonlyArray<string>).includes(model)

/**
 * A model to try, with the reasoning effort to ask of it (the model's default when absent). A
 * model that is neither a selector nor known to the catalog is a skipped candidate when the
 * policy is used (the catalog may learn it later), not an invalid policy; an unknown selector is.
 *
 * @since 0.1.0
 * @category models
 */
export const Candidate = Schema.Struct({
  /** A catalog slug, an alias, or a selector (`@strongest`, `@small`, `@largest`). */
  model: Schema.NonEmptyString.check(
    Schema.makeFilter((model) =>
      !model.startsWith("@") || isSelector(model) ? undefined : `a selector is one of ${SELECTORS.join(", ")}`
    )
  ),
  effort: Schema.optional(Schema.NonEmptyString)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Candidate = typeof Candidate.Type

/**
 * A rule: the requests it matches (`*`, the default, matches any) and its candidates, in order.
 *
 * @since 0.1.0
 * @category models
 */
export const Rule = Schema.Struct({
  complexity: Schema.optional(Schema.Literals(["simple", "medium", "complex", "*"])),
  task_type: Schema.optional(Schema.NonEmptyString),
  candidates: Schema.NonEmptyArray(Candidate)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Rule = typeof Rule.Type

/**
 * When an (account, model) pair is cooled down: after `failures` rate limits or unavailable
 * answers (each after the provider's own retries) within `window`, for `duration`.
 *
 * @since 0.1.0
 * @category models
 */
export const Cooldown = Schema.Struct({
  failures: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  window: Schema.DurationFromString,
  duration: Schema.DurationFromString
})

/**
 * @since 0.1.0
 * @category models
 */
export type Cooldown = typeof Cooldown.Type

/**
 * A policy file: rules (required), and the pool's limits and the cooldown (defaults when absent).
 *
 * @since 0.1.0
 * @category models
 */
export const PolicyFile = Schema.Struct({
  rules: Schema.NonEmptyArray(Rule),
  /** Requests in flight per account, per process (0 = no cap). */
  max_in_flight_per_account: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  cooldown: Schema.optional(Cooldown)
})

/**
 * @since 0.1.0
 * @category models
 */
export type PolicyFile = typeof PolicyFile.Type

/**
 * A policy, ready to use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly rules: ReadonlyArray<Rule>
  readonly maxInFlightPerAccount: number
  readonly cooldown: Cooldown
  /** Where the policy came from: a file's path, or "built-in defaults". */
  readonly source: string
}

/**
 * The built-in rules: the seed's `select_model` table (complex code generation and architecture on
 * gpt-5-codex, medium coding on gpt-4o, both aliases the catalog resolves), then a catch-all per
 * complexity; every list goes on to the strongest model (an alias that disappears still leaves a
 * candidate) and ends on the largest context window (the fallback for a conversation too long).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultRules: ReadonlyArray<Rule> = (() => {
  /** `first` (if any), then the strongest model, then the widest context, all at `effort`. */
  const rule = (matches: Pick<Rule, "complexity" | "task_type">, effort: string, first?: string): Rule => {
    const strongest = { model: "@strongest", effort }
    const largest = { model: "@largest", effort }
    return {
      ...matches,
      candidates: first === undefined ? [strongest, largest] : [{ model: first, effort }, strongest, largest]
    }
  }
  return [
    rule({ complexity: "complex", task_type: "code_generation" }, "high", "gpt-5-codex"),
    rule({ complexity: "complex", task_type: "architect" }, "high", "gpt-5-codex"),
    rule({ complexity: "medium", task_type: "coder" }, "medium", "gpt-4o"),
    rule({ complexity: "simple" }, "low", "@small"),
    rule({ complexity: "medium" }, "medium"),
    rule({ complexity: "complex" }, "high")
  ]
})()

/**
 * The built-in cooldown: 3 failures within a minute cool the pair down for 30 seconds.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultCooldown: Cooldown = {
  failures: 3,
  window: Duration.minutes(1),
  duration: Duration.seconds(30)
}

/**
 * The built-in policy.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults: Policy = {
  rules: defaultRules,
  maxInFlightPerAccount: 0,
  cooldown: defaultCooldown,
  source: "built-in defaults"
}

/**
 * The policy file could not be read or does not say what a policy must.
 *
 * @since 0.1.0
 * @category errors
 */
export class PolicyInvalid extends Schema.TaggedError<PolicyInvalid>()("PolicyInvalid", {
  file: Schema.String,
  /** What is wrong, with the key path (`at ["rules"][0]["complexity"]`) when one is to blame. */
  detail: Schema.String
}) {
  override get message() {
    return `The routing policy ${this.file} is invalid: ${this.detail}. Fix it (\`nexus route check ${this.file}\` shows what it yields) or unset NEXUS_ROUTER_CONFIG for the built-in policy.`
  }
}

const decodeFile = Schema.decodeUnknownEffect(PolicyFile)

/**
 * A policy from a file's text: JSON when the file name ends in `.json`, YAML otherwise (JSON is
 * YAML too). Unknown keys are errors: a misspelt `task-type` must not silently match everything.
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromText = (file: string, text: string): Effect.Effect<Policy, PolicyInvalid> =>
  Effect.try({
    try: () => (file.endsWith(".json") ? JSON.parse(text) : Yaml.parse(text)) as unknown,
    catch: (cause) =>
      new PolicyInvalid({
        file,
        detail: `it is not ${file.endsWith(".json") ? "JSON" : "YAML"} (${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)})`
      })
  }).pipe(
    Effect.flatMap((parsed) =>
      decodeFile(parsed, { errors: "all", onExcessProperty: "error" }).pipe(
        Effect.mapError(
          (error) =>
            // One line: "Expected … at [path]; Expected … at [path]".
            new PolicyInvalid({
              file,
              detail: error.message
                .replace(/\n\s+at /g, " at ")
                .split("\n")
                .join("; ")
            })
        )
      )
    ),
    Effect.map((decoded): Policy => ({
      rules: decoded.rules,
      maxInFlightPerAccount: decoded.max_in_flight_per_account ?? defaults.maxInFlightPerAccount,
      cooldown: decoded.cooldown ?? defaults.cooldown,
      source: file
    }))
  )

/**
 * A policy from a file.
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromFile = (file: string): Effect.Effect<Policy, PolicyInvalid, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(file).pipe(
      Effect.mapError((error) => new PolicyInvalid({ file, detail: `it cannot be read (${error.message})` })),
      Effect.flatMap((text) => fromText(file, text))
    )
  )

/**
 * The first rule matching (complexity, task type), if any.
 *
 * @since 0.1.0
 * @category matching
 */
export const matchRule = (
  policy: Pick<Policy, "rules">,
  complexity: Complexity,
  taskType: string
): Option.Option<{ readonly rule: Rule; readonly index: number }> => {
  const index = policy.rules.findIndex(
    (rule) =>
      (rule.complexity === undefined || rule.complexity === "*" || rule.complexity === complexity) &&
      (rule.task_type === undefined || rule.task_type === "*" || rule.task_type === taskType)
  )
  return index < 0 ? Option.none() : Option.some({ rule: policy.rules[index]!, index })
}

/** How many reasoning levels a model offers: the catalog's measure of how capable it is. */
const levels = (model: ModelCatalog.ModelInfo) => model.supported_reasoning_levels?.length ?? 0

const byRank = (a: ModelCatalog.ModelInfo, b: ModelCatalog.ModelInfo) =>
  levels(b) - levels(a) || (a.priority ?? Number.MAX_SAFE_INTEGER) - (b.priority ?? Number.MAX_SAFE_INTEGER)

/**
 * The slug a selector stands for in `models` (listed models only), or `undefined` for a model
 * name that is not a selector. An empty catalog answers no selector.
 *
 * @since 0.1.0
 * @category matching
 */
export const selectModel = (
  selector: string,
  models: ReadonlyArray<ModelCatalog.ModelInfo>
): Option.Option<string> | undefined => {
  if (!selector.startsWith("@")) return undefined
  const listed = models
    .filter((model) => model.visibility === undefined || model.visibility === "list")
    .toSorted(byRank)
  const strongest = listed[0]
  switch (selector) {
    case "@strongest":
      return Option.fromUndefinedOr(strongest?.slug)
    case "@small": {
      const smaller = listed.find((model) => strongest !== undefined && levels(model) < levels(strongest))
      return Option.fromUndefinedOr((smaller ?? strongest)?.slug)
    }
    case "@largest": {
      let largest = strongest
      for (const model of listed) {
        if ((model.context_window ?? 0) > (largest?.context_window ?? 0)) largest = model
      }
      return Option.fromUndefinedOr(largest?.slug)
    }
    default:
      return Option.none()
  }
}

/**
 * One rule of a policy as a table row: what it matches and its candidates, each resolved against a
 * catalog (`slug` undefined when the catalog has no such model or alias).
 *
 * @since 0.1.0
 * @category matching
 */
export interface TableRow {
  readonly complexity: string
  readonly taskType: string
  readonly candidates: ReadonlyArray<{
    readonly model: string
    readonly effort: string | undefined
    readonly slug: string | undefined
    /** The effort is not one the model offers: it will get its default instead. */
    readonly effortUnsupported: boolean
  }>
}

/**
 * The table a policy yields against `models` and `aliases` (what `nexus route check` prints).
 *
 * @since 0.1.0
 * @category matching
 */
export const table = (
  policy: Pick<Policy, "rules">,
  models: ReadonlyArray<ModelCatalog.ModelInfo>,
  aliases: Readonly<Record<string, string>>
): ReadonlyArray<TableRow> =>
  policy.rules.map((rule) => ({
    complexity: rule.complexity ?? "*",
    taskType: rule.task_type ?? "*",
    candidates: rule.candidates.map((candidate) => {
      const selected = selectModel(candidate.model, models)
      const name =
        selected === undefined
          ? Object.hasOwn(aliases, candidate.model)
            ? aliases[candidate.model]!
            : candidate.model
          : Option.getOrUndefined(selected)
      const info = models.find((model) => model.slug === name)
      const offered = info?.supported_reasoning_levels
      return {
        model: candidate.model,
        effort: candidate.effort,
        slug: info?.slug,
        effortUnsupported:
          candidate.effort !== undefined &&
          offered !== undefined &&
          !offered.some((level) => level.effort === candidate.effort)
      }
    })
  }))

/**
 * The policy service: the one policy of this process.
 *
 * @since 0.1.0
 * @category services
 */
export class RoutingPolicy extends Context.Service<RoutingPolicy, Policy>()("@nexus/router/RoutingPolicy") {
  /**
   * The policy of `NEXUS_ROUTER_CONFIG` when set, the built-in one otherwise.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<RoutingPolicy, PolicyInvalid | Config.ConfigError, FileSystem.FileSystem> =
    Layer.effect(RoutingPolicy)(
      Effect.flatMap(Config.option(Config.String("NEXUS_ROUTER_CONFIG")), (file) =>
        Option.match(file, { onNone: () => Effect.succeed(defaults), onSome: fromFile })
      )
    )

  /**
   * A given policy (tests, or a program that builds its own).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (policy: Policy): Layer.Layer<RoutingPolicy> => Layer.succeed(RoutingPolicy)(policy)
}
