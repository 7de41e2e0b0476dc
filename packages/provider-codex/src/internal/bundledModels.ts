// The catalog bundled with the 0.169.0 CLI (protocol §9, `codex-rs/models-manager/models.json`):
// what Nexus serves until the backend's /models has answered once, or when it answers 404.
import type { ModelInfo } from "../ModelCatalog.ts"

const ALL_PLANS = ["free", "go", "plus", "pro", "team", "business", "enterprise", "edu"]

const levels = (...efforts: ReadonlyArray<string>) => efforts.map((effort) => ({ effort, description: effort }))

const model = (
  priority: number,
  slug: string,
  fields: {
    readonly contextWindow?: number
    readonly maxContextWindow?: number
    readonly defaultEffort: string
    readonly efforts: ReadonlyArray<string>
    readonly plans: ReadonlyArray<string>
    readonly lite?: boolean
    readonly description?: string
  }
): ModelInfo => ({
  slug,
  display_name: slug,
  ...(fields.description === undefined ? {} : { description: fields.description }),
  context_window: fields.contextWindow ?? 272_000,
  max_context_window: fields.maxContextWindow ?? 872_000,
  default_reasoning_level: fields.defaultEffort,
  supported_reasoning_levels: levels(...fields.efforts),
  use_responses_lite: fields.lite ?? true,
  available_in_plans: fields.plans,
  visibility: "list",
  priority
})

const UP_TO_MAX = ["low", "medium", "high", "xhigh", "max"]
const UP_TO_ULTRA = [...UP_TO_MAX, "ultra"]

/** The bundled catalog's listed models, default model first (priorities as the CLI's catalog has them). */
export const BUNDLED_MODELS: ReadonlyArray<ModelInfo> = [
  model(1, "gpt-6.1-sol", { defaultEffort: "low", efforts: UP_TO_ULTRA, plans: ALL_PLANS }),
  model(2, "gpt-6-astra", { defaultEffort: "low", efforts: UP_TO_ULTRA, plans: ALL_PLANS }),
  model(3, "gpt-6-sol", { defaultEffort: "medium", efforts: UP_TO_ULTRA, plans: ALL_PLANS }),
  model(4, "gpt-6-luna", { defaultEffort: "medium", efforts: UP_TO_MAX, plans: ALL_PLANS }),
  model(5, "gpt-5.6-sol", { defaultEffort: "low", efforts: UP_TO_ULTRA, plans: ALL_PLANS }),
  model(7, "gpt-6.1-terra", { contextWindow: 500_000, defaultEffort: "low", efforts: UP_TO_ULTRA, plans: ALL_PLANS }),
  model(8, "gpt-5.6-terra", { defaultEffort: "medium", efforts: UP_TO_ULTRA, plans: ALL_PLANS }),
  model(9, "gpt-5.6-luna", { defaultEffort: "medium", efforts: UP_TO_MAX, plans: ALL_PLANS }),
  model(13, "gpt-5.5", {
    maxContextWindow: 272_000,
    defaultEffort: "medium",
    efforts: ["low", "medium", "high", "xhigh"],
    plans: ALL_PLANS,
    lite: false,
    description: "Legacy coding model."
  })
]
