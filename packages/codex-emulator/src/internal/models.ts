// The model catalog the emulator serves on /codex/models, shaped like the 0.169.0 ModelInfo
// entries of protocol §9 (the base-prompt template is shortened).
const ALL_PLANS = ["free", "go", "plus", "pro", "team", "business", "enterprise", "edu"]
const PAID_PLANS = ["plus", "pro", "team", "business", "enterprise", "edu"]

interface ModelSeed {
  readonly slug: string
  readonly contextWindow: number
  readonly maxContextWindow: number
  readonly defaultEffort: string
  readonly efforts: ReadonlyArray<string>
  readonly lite: boolean
  readonly plans: ReadonlyArray<string>
  readonly hidden?: boolean
}

const seeds: ReadonlyArray<ModelSeed> = [
  {
    slug: "gpt-6.1-sol",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "low",
    efforts: ["low", "medium", "high", "xhigh", "max"],
    lite: true,
    plans: ALL_PLANS
  },
  {
    slug: "gpt-6-astra",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh"],
    lite: true,
    plans: PAID_PLANS
  },
  {
    slug: "gpt-6.1-terra",
    contextWindow: 500_000,
    maxContextWindow: 872_000,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh", "max", "ultra"],
    lite: true,
    plans: PAID_PLANS
  },
  {
    slug: "gpt-6-sol",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "low",
    efforts: ["low", "medium", "high", "xhigh"],
    lite: true,
    plans: ALL_PLANS
  },
  {
    slug: "gpt-6-luna",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "low",
    efforts: ["low", "medium", "high"],
    lite: true,
    plans: ALL_PLANS
  },
  {
    slug: "gpt-5.6-sol",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh"],
    lite: true,
    plans: ALL_PLANS
  },
  {
    slug: "gpt-5.6-terra",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh"],
    lite: true,
    plans: PAID_PLANS
  },
  {
    slug: "gpt-5.6-luna",
    contextWindow: 272_000,
    maxContextWindow: 872_000,
    defaultEffort: "low",
    efforts: ["low", "medium", "high"],
    lite: true,
    plans: ALL_PLANS
  },
  {
    slug: "gpt-5.5",
    contextWindow: 272_000,
    maxContextWindow: 272_000,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh"],
    lite: false,
    plans: ALL_PLANS
  },
  {
    slug: "codex-auto-review",
    contextWindow: 272_000,
    maxContextWindow: 272_000,
    defaultEffort: "low",
    efforts: ["low", "medium"],
    lite: false,
    plans: PAID_PLANS,
    hidden: true
  }
]

export const MODELS = seeds.map((seed, priority) => ({
  slug: seed.slug,
  display_name: seed.slug,
  description: seed.slug === "gpt-5.5" ? "Legacy coding model" : `Emulated ${seed.slug}`,
  context_window: seed.contextWindow,
  max_context_window: seed.maxContextWindow,
  default_reasoning_level: seed.defaultEffort,
  supported_reasoning_levels: seed.efforts.map((effort) => ({ effort, description: effort })),
  supports_reasoning_summaries: true,
  support_verbosity: true,
  default_verbosity: "low",
  use_responses_lite: seed.lite,
  prefer_websockets: seed.lite,
  tool_mode: seed.lite ? "namespaced" : "classic",
  minimal_client_version: "0.98.0",
  available_in_plans: seed.plans,
  service_tiers: ["default", "priority"],
  visibility: seed.hidden ? "hide" : "list",
  priority,
  model_messages: { instructions_template: "You are Codex, a coding agent…" }
}))
