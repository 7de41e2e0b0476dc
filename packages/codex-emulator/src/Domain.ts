/**
 * The emulator's data model: accounts, plans, usage budgets, fault rules and counters. Every shape
 * that crosses the admin API is a Schema, so HTTP input is decoded before use.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * ChatGPT plans the emulator knows (protocol §5); unknown strings are kept by real clients.
 *
 * @since 0.1.0
 * @category models
 */
export const Plan = Schema.Literals(["free", "go", "plus", "pro", "team", "business", "enterprise", "edu"])
/** @since 0.1.0 @category models */
export type Plan = typeof Plan.Type

/**
 * A usage budget: how many units (one per model request by default) fit in the 5-hour (primary) and
 * weekly (secondary) windows.
 *
 * @since 0.1.0
 * @category models
 */
export const Budget = Schema.Struct({ primary: Schema.Finite, secondary: Schema.Finite })
/** @since 0.1.0 @category models */
export type Budget = typeof Budget.Type

/**
 * A ChatGPT account (a workspace, in OpenAI's terms) that can sign in to the emulator.
 *
 * @since 0.1.0
 * @category models
 */
export const Account = Schema.Struct({
  id: Schema.String,
  email: Schema.String,
  plan: Plan,
  userId: Schema.String,
  /** false answers the authorize step with `access_denied` / `missing_codex_entitlement`. */
  entitled: Schema.Boolean,
  /** false answers the device-code user-code request with 404, as a workspace that disabled it. */
  deviceCodeEnabled: Schema.Boolean,
  budget: Schema.optional(Budget)
})
/** @since 0.1.0 @category models */
export type Account = typeof Account.Type

/**
 * What a caller gives to add an account; everything but the email has a default.
 *
 * @since 0.1.0
 * @category models
 */
export const AccountInput = Schema.Struct({
  id: Schema.optional(Schema.String),
  email: Schema.String,
  plan: Schema.optional(Plan),
  userId: Schema.optional(Schema.String),
  entitled: Schema.optional(Schema.Boolean),
  deviceCodeEnabled: Schema.optional(Schema.Boolean),
  budget: Schema.optional(Budget)
})
/** @since 0.1.0 @category models */
export type AccountInput = typeof AccountInput.Type

/**
 * A change to an existing account.
 *
 * @since 0.1.0
 * @category models
 */
export const AccountPatch = Schema.Struct({
  email: Schema.optional(Schema.String),
  plan: Schema.optional(Plan),
  entitled: Schema.optional(Schema.Boolean),
  deviceCodeEnabled: Schema.optional(Schema.Boolean),
  budget: Schema.optional(Budget)
})
/** @since 0.1.0 @category models */
export type AccountPatch = typeof AccountPatch.Type

/**
 * The emulator's routes, as fault rules and counters name them.
 *
 * @since 0.1.0
 * @category models
 */
export const Route = Schema.Literals([
  "authorize",
  "token",
  "revoke",
  "usercode",
  "device_token",
  "accounts_check",
  "usage",
  "models",
  "responses"
])
/** @since 0.1.0 @category models */
export type Route = typeof Route.Type

/**
 * Every kind of fault the emulator can inject.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultKind = Schema.Literals([
  "unauthorized",
  "usage_limit",
  "rate_limit",
  "server_error",
  "bad_gateway",
  "overloaded",
  "slow_first_byte",
  "stream_cut",
  "malformed_event",
  "idle",
  "response_failed",
  "refresh_reused",
  "refresh_expired",
  "refresh_invalidated",
  "refresh_server_error"
])
/** @since 0.1.0 @category models */
export type FaultKind = typeof FaultKind.Type

/**
 * A fault to inject: on `route` (default `responses`, or `token` for the refresh kinds), for
 * `account` (default every account), for the next `times` requests (default 1) or, with
 * `probability`, on that share of requests until cleared.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultRule = Schema.Struct({
  kind: FaultKind,
  route: Schema.optional(Route),
  account: Schema.optional(Schema.String),
  times: Schema.optional(Schema.Int),
  probability: Schema.optional(Schema.Finite),
  /** rate_limit: the Retry-After seconds (default 1). */
  retryAfterSeconds: Schema.optional(Schema.Finite),
  /** slow_first_byte: delay before the first byte; idle: how long to stay silent (default forever). */
  delayMs: Schema.optional(Schema.Finite),
  /** stream_cut, malformed_event, idle: how many events go out before the fault (default 2). */
  afterEvents: Schema.optional(Schema.Int),
  /** stream_cut: destroy the connection instead of ending the chunked body cleanly. */
  abort: Schema.optional(Schema.Boolean),
  /** response_failed: the error code (default server_error) and message. */
  code: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  /** server_error, refresh_server_error: the status (default 500). */
  status: Schema.optional(Schema.Int)
})
/** @since 0.1.0 @category models */
export type FaultRule = typeof FaultRule.Type

/**
 * A scripted reply: when the last user message contains `match`, answer with `text` or with a
 * function call to `toolCall.name` with `toolCall.arguments`.
 *
 * @since 0.1.0
 * @category models
 */
export const ScriptedReply = Schema.Struct({
  match: Schema.String,
  text: Schema.optional(Schema.String),
  toolCall: Schema.optional(Schema.Struct({ name: Schema.String, arguments: Schema.String }))
})
/** @since 0.1.0 @category models */
export type ScriptedReply = typeof ScriptedReply.Type

/**
 * Emulator-wide settings that the admin API can change at run time.
 *
 * @since 0.1.0
 * @category models
 */
export const Settings = Schema.Struct({
  /** `auto` redirects straight back with a code; `interactive` shows Approve / Deny. */
  approval: Schema.Literals(["auto", "interactive"]),
  /** Demand `instructions` on /responses, as some deployments do. */
  strict: Schema.Boolean,
  accessTokenTtlSeconds: Schema.Finite,
  refreshTokenTtlSeconds: Schema.Finite,
  authorizationCodeTtlSeconds: Schema.Finite,
  deviceCodeTtlSeconds: Schema.Finite,
  /** The `interval` the device-code endpoint hands out, in seconds. */
  deviceIntervalSeconds: Schema.Finite,
  /** Which account the auto-approve and the device shortcut sign in as. */
  loginAccount: Schema.String,
  /** Reject every refresh token of a family once one of its rotated tokens is reused. */
  revokeFamilyOnReuse: Schema.Boolean
})
/** @since 0.1.0 @category models */
export type Settings = typeof Settings.Type

/**
 * A partial change of settings.
 *
 * @since 0.1.0
 * @category models
 */
export const SettingsPatch = Schema.Struct({
  approval: Schema.optional(Settings.fields.approval),
  strict: Schema.optional(Schema.Boolean),
  accessTokenTtlSeconds: Schema.optional(Schema.Finite),
  refreshTokenTtlSeconds: Schema.optional(Schema.Finite),
  authorizationCodeTtlSeconds: Schema.optional(Schema.Finite),
  deviceCodeTtlSeconds: Schema.optional(Schema.Finite),
  deviceIntervalSeconds: Schema.optional(Schema.Finite),
  loginAccount: Schema.optional(Schema.String),
  revokeFamilyOnReuse: Schema.optional(Schema.Boolean)
})
/** @since 0.1.0 @category models */
export type SettingsPatch = typeof SettingsPatch.Type

/**
 * What a request looked like when it reached the emulator (for tests that assert what a client sent).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: Readonly<Record<string, string>>
  /** Parsed JSON or form fields when the body was one of those, else the text. */
  readonly body: unknown
}

/**
 * The emulator's counters.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  requests: Record<string, { total: number; byAccount: Record<string, number> }>
  grants: { authorization_code: number; refresh_token: number; token_exchange: number }
  refreshes: { succeeded: number; rejected: number; byReason: Record<string, number> }
  revokes: number
  faultsInjected: number
}
