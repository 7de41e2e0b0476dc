// The model catalog the emulator serves on /codex/models. Its schema is the 0.169.0 CLI's, field by
// field (the catalog that CLI bundles is the reference, protocol §9): the real CLI refuses the whole
// reply when one required field is missing or of another type, then falls back to its bundled list
// and never revalidates with If-None-Match. The values follow that bundled list; the prompts are the
// emulator's own short texts.
import { createHash } from "node:crypto"

/** The plan ids the real catalog lists in `available_in_plans` (wider than the plans of protocol §5). */
const EVERY_PLAN = [
  "business",
  "edu",
  "edu_plus",
  "edu_pro",
  "education",
  "ent26",
  "enterprise",
  "enterprise_cbp_automation",
  "enterprise_cbp_trial",
  "enterprise_cbp_usage_based",
  "finserv",
  "free",
  "free_workspace",
  "go",
  "hc",
  "k12",
  "plus",
  "pro",
  "prolite",
  "promax",
  "quorum",
  "sci",
  "self_serve_business_prolite",
  "self_serve_business_usage_based",
  "team"
]
const PAID_ONLY = EVERY_PLAN.filter((plan) => plan !== "free" && plan !== "free_workspace" && plan !== "k12")

const EFFORT_DESCRIPTIONS: Record<string, string> = {
  low: "Fast responses with lighter reasoning",
  medium: "Balances speed and reasoning depth for everyday tasks",
  high: "Greater reasoning depth for complex problems",
  xhigh: "Extra high reasoning depth for complex problems",
  max: "Maximum reasoning depth for the hardest problems",
  ultra: "Maximum reasoning with automatic task delegation"
}

const UP_TO_MAX = ["low", "medium", "high", "xhigh", "max"]
const UP_TO_ULTRA = [...UP_TO_MAX, "ultra"]

interface ModelSeed {
  readonly slug: string
  readonly displayName: string
  readonly description: string
  readonly priority: number
  readonly defaultEffort: string
  readonly efforts: ReadonlyArray<string>
  readonly contextWindow?: number
  readonly maxContextWindow?: number
  /** false: the classic Responses body with top-level `tools` (gpt-5.5); true: responses-lite (§6.4). */
  readonly lite?: boolean
  readonly visibility?: "list" | "hide"
  readonly minimalClientVersion: string
  readonly plans?: ReadonlyArray<string>
  readonly fastTier?: string | undefined
  readonly defaultServiceTier?: string | null
  readonly experimentalTools?: ReadonlyArray<string>
  readonly upgrade?: string
  /** Lite models that take a mid-session effort change as a trailing `configuration_update` item. */
  readonly effortUpdates?: boolean
}

const seeds: ReadonlyArray<ModelSeed> = [
  {
    slug: "gpt-6.1-sol",
    effortUpdates: true,
    displayName: "GPT-6.1-Sol",
    description: "Latest workhorse model for coding and everyday work.",
    priority: 1,
    defaultEffort: "low",
    efforts: UP_TO_ULTRA,
    minimalClientVersion: "0.153.0",
    fastTier: "2x speed, increased usage",
    experimentalTools: ["send_user_message_async", "clock"]
  },
  {
    slug: "gpt-6-astra",
    effortUpdates: true,
    displayName: "GPT-6-Astra",
    description: "Frontier intelligence for the most demanding work.",
    priority: 2,
    defaultEffort: "low",
    efforts: UP_TO_ULTRA,
    minimalClientVersion: "0.153.0",
    fastTier: "2x speed, increased usage",
    experimentalTools: ["send_user_message_async", "clock"]
  },
  {
    slug: "gpt-6-sol",
    displayName: "GPT-6-Sol",
    description: "Previous generation workhorse model.",
    priority: 3,
    defaultEffort: "medium",
    efforts: UP_TO_ULTRA,
    minimalClientVersion: "0.155.0",
    fastTier: "1.5x speed",
    defaultServiceTier: "priority",
    experimentalTools: ["send_user_message_async", "clock"]
  },
  {
    slug: "gpt-6-luna",
    displayName: "GPT-6-Luna",
    description: "Fast and affordable model for easier tasks.",
    priority: 4,
    defaultEffort: "medium",
    efforts: UP_TO_MAX,
    minimalClientVersion: "0.155.0",
    fastTier: "1.5x speed",
    defaultServiceTier: "priority",
    experimentalTools: ["send_user_message_async", "clock"]
  },
  {
    slug: "gpt-5.6-sol",
    displayName: "GPT-5.6-Sol",
    description: "Older generation workhorse model.",
    priority: 5,
    defaultEffort: "low",
    efforts: UP_TO_ULTRA,
    minimalClientVersion: "0.144.0",
    upgrade: "gpt-6-sol"
  },
  {
    slug: "gpt-6.1-terra",
    effortUpdates: true,
    displayName: "GPT-6.1 Terra",
    description: "GPT-6.1 Terra Codex model.",
    priority: 7,
    defaultEffort: "low",
    efforts: UP_TO_ULTRA,
    contextWindow: 500_000,
    minimalClientVersion: "0.153.0",
    fastTier: "1.5x speed",
    experimentalTools: ["send_user_message_async", "clock"]
  },
  {
    slug: "gpt-5.6-terra",
    displayName: "GPT-5.6-Terra",
    description: "Older balanced model for straightforward work.",
    priority: 8,
    defaultEffort: "medium",
    efforts: UP_TO_ULTRA,
    minimalClientVersion: "0.144.0",
    upgrade: "gpt-6-sol"
  },
  {
    slug: "gpt-5.6-luna",
    displayName: "GPT-5.6-Luna",
    description: "Older fast and efficient model.",
    priority: 9,
    defaultEffort: "medium",
    efforts: UP_TO_MAX,
    minimalClientVersion: "0.144.0",
    upgrade: "gpt-6-luna"
  },
  {
    slug: "gpt-5.5",
    displayName: "GPT-5.5",
    description: "Legacy coding model.",
    priority: 13,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh"],
    maxContextWindow: 272_000,
    lite: false,
    minimalClientVersion: "0.124.0",
    upgrade: "gpt-6-sol"
  },
  {
    slug: "codex-auto-review",
    displayName: "Codex Auto Review",
    description: "Automatic approval review model for Codex.",
    priority: 43,
    defaultEffort: "medium",
    efforts: UP_TO_MAX,
    visibility: "hide",
    minimalClientVersion: "0.98.0",
    plans: PAID_ONLY
  }
]

const instructions = (seed: ModelSeed) =>
  `You are Codex, a coding agent served by the Nexus emulator as ${seed.displayName}. Answer briefly; use the tools you are given when the user asks for them.`

/** One catalog entry in the 0.169.0 ModelInfo shape (every field that CLI requires, in its types). */
const modelInfo = (seed: ModelSeed) => {
  const lite = seed.lite ?? true
  return {
    slug: seed.slug,
    display_name: seed.displayName,
    description: seed.description,
    default_reasoning_level: seed.defaultEffort,
    supported_reasoning_levels: seed.efforts.map((effort) => ({
      effort,
      description: EFFORT_DESCRIPTIONS[effort] ?? effort
    })),
    shell_type: "shell_command",
    visibility: seed.visibility ?? "list",
    minimal_client_version: seed.minimalClientVersion,
    supported_in_api: true,
    availability_nux: null,
    upgrade:
      seed.upgrade === undefined
        ? null
        : { model: seed.upgrade, migration_markdown: `Try ${seed.upgrade}.\n`, retirement_at: null },
    priority: seed.priority,
    available_in_plans: seed.plans ?? EVERY_PLAN,
    context_window: seed.contextWindow ?? 272_000,
    max_context_window: seed.maxContextWindow ?? 872_000,
    auto_compact_token_limit: null,
    comp_hash: lite ? "3000" : "2911",
    default_reasoning_summary: "none",
    supports_reasoning_summaries: true,
    supports_reasoning_summary_parameter: true,
    support_verbosity: true,
    default_verbosity: "low",
    apply_patch_tool_type: "freeform",
    web_search_tool_type: "text_and_image",
    input_modalities: ["text", "image"],
    supports_image_detail_original: true,
    truncation_policy: { mode: "tokens", limit: 10_000 },
    supports_parallel_tool_calls: true,
    supports_search_tool: true,
    supports_experimental_context: false,
    // The real backend names the code-mode tool set for lite models and null for the classic one.
    tool_mode: lite ? "code_mode_only" : null,
    use_responses_lite: lite,
    // As on the real backend, every model prefers WebSockets: the emulator refuses the upgrade, and
    // the CLI falls back to HTTPS POST + SSE.
    prefer_websockets: true,
    multi_agent_version: lite ? "v2" : null,
    multi_agent_reasoning_effort: null,
    supports_reasoning_effort_updates: seed.effortUpdates ?? false,
    include_skills_usage_instructions: !lite,
    include_apps_usage_instructions: !lite,
    include_plugin_usage_instructions: !lite,
    guardian: null,
    node_repl_auto_review_required: false,
    node_repl_disabled: false,
    requires_sandboxed_review: false,
    auto_review_model_override: null,
    model_specialty: null,
    experimental_supported_tools: seed.experimentalTools ?? [],
    default_service_tier: seed.defaultServiceTier ?? null,
    service_tiers: seed.fastTier === undefined ? [] : [{ id: "priority", name: "Fast", description: seed.fastTier }],
    additional_speed_tiers: seed.fastTier === undefined ? [] : ["fast"],
    model_messages: {
      instructions_template: instructions(seed),
      persistent_instructions: null,
      tools: null,
      approvals: null,
      collaboration_modes: null,
      auto_review: null,
      multi_agent: null,
      permissions: null,
      token_budget: null,
      guardian_v2: null,
      confirmation_policies: null
    }
  }
}

/** The catalog, in the backend's order (by priority). */
export const MODELS = seeds.map(modelInfo)

/** The catalog as /codex/models serves it, and its ETag. */
export const modelsBody = JSON.stringify({ models: MODELS })
export const modelsEtag = `"${createHash("sha256").update(modelsBody).digest("base64url").slice(0, 27)}"`

/** The model slugs /responses accepts. */
export const modelSlugs = new Set(MODELS.map((model) => model.slug))
