/**
 * The emulator's data model: accounts, plans, usage budgets, fault rules and counters. Every shape
 * that crosses the admin API is a Schema, so HTTP input is decoded before use.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

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
export const Budget = Schema.Struct({ primary: NonNegative, secondary: NonNegative })
/** @since 0.1.0 @category models */
export type Budget = typeof Budget.Type

/**
 * How `/wham/accounts/check` answers for an account (protocol §6.1). By default the account's entry
 * has `workspace_backend_origin` `https://chatgpt.com` and `account_routing_override` `NO_CONSTRAINT`,
 * as the real backend answers; a client whose model URL has another origin than its ChatGPT base URL
 * keeps its configured backend: the emulator.
 *
 * @since 0.1.0
 * @category models
 */
export const Routing = Schema.Struct({
  /**
   * `workspace_backend_origin`, sent unchecked: the real backend names a bare `https://host[:port]`
   * origin, and the real CLI fails every turn on anything else (other values test that failure).
   */
  origin: Schema.optional(Schema.String),
  /** `account_routing_override`; `us` and `us_cr` make a client send `x-openai-account-routing-override`. */
  override: Schema.optional(Schema.Literals(["NO_CONSTRAINT", "us", "us_cr"])),
  /** Leave the account out of the answer, as a backend that has no entry for it. */
  omit: Schema.optional(Schema.Boolean)
})
/** @since 0.1.0 @category models */
export type Routing = typeof Routing.Type

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
  /** false denies sign-in, in the browser or by device code, with `missing_codex_entitlement`. */
  entitled: Schema.Boolean,
  budget: Schema.optional(Budget),
  routing: Schema.optional(Routing)
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
  budget: Schema.optional(Budget),
  routing: Schema.optional(Routing)
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
  budget: Schema.optional(Budget),
  routing: Schema.optional(Routing)
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
  "responses",
  "responses_websocket"
])
/** @since 0.1.0 @category models */
export type Route = typeof Route.Type

/**
 * The fault kinds by what they do: `reply` faults answer in place of a route's reply (slow_first_byte
 * holds it back instead); `account` faults need a route that authenticates an account; `stream`
 * faults break the /responses event stream; `refresh` faults refuse a refresh grant.
 *
 * @since 0.1.0
 * @category models
 */
export const faultKindGroups = {
  reply: ["rate_limit", "server_error", "bad_gateway", "overloaded", "slow_first_byte"],
  account: ["unauthorized", "usage_limit"],
  stream: ["stream_cut", "malformed_event", "idle", "response_failed"],
  refresh: ["refresh_reused", "refresh_expired", "refresh_invalidated", "refresh_server_error"]
} as const

const { reply, account, stream, refresh } = faultKindGroups

/**
 * Every kind of fault the emulator can inject.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultKind = Schema.Literals([...account, ...reply, ...stream, ...refresh])
/** @since 0.1.0 @category models */
export type FaultKind = typeof FaultKind.Type

/**
 * The fault kinds each route can apply; a rule naming another kind for a route is refused.
 *
 * @since 0.1.0
 * @category models
 */
export const routeFaultKinds: { readonly [R in Route]: ReadonlyArray<FaultKind> } = {
  authorize: reply,
  token: [...reply, ...refresh],
  revoke: reply,
  usercode: reply,
  device_token: reply,
  accounts_check: [...account, ...reply],
  usage: [...account, ...reply],
  models: [...account, ...reply],
  responses: [...account, ...reply, ...stream],
  // WebSocket upgrades are always refused (426), so there is no answer for a fault to replace.
  responses_websocket: []
}

/**
 * The route a fault rule applies to: its `route`, else `token` for the refresh kinds and `responses`
 * for the others.
 *
 * @since 0.1.0
 * @category getters
 */
export const faultRoute = (rule: { readonly kind: FaultKind; readonly route?: Route | undefined }): Route =>
  rule.route ?? (rule.kind.startsWith("refresh_") ? "token" : "responses")

/**
 * A fault to inject: on `route` (default `responses`, or `token` for the refresh kinds), for
 * `account` (default every account), for the next `times` requests (default 1) or, with
 * `probability`, on that share of requests until cleared. Decoding refuses a kind that the route
 * cannot apply (see `routeFaultKinds`) and numbers out of range.
 *
 * @since 0.1.0
 * @category models
 */
export const FaultRule = Schema.Struct({
  kind: FaultKind,
  route: Schema.optional(Route),
  account: Schema.optional(Schema.String),
  times: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  probability: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  /** rate_limit: the Retry-After seconds (default 1). */
  retryAfterSeconds: Schema.optional(NonNegative),
  /** rate_limit: send the Retry-After header (default true); without it only the message gives the delay. */
  retryAfterHeader: Schema.optional(Schema.Boolean),
  /** usage_limit: the reset it reports, in seconds from now (default: when the account's window resets). */
  resetsInSeconds: Schema.optional(NonNegative),
  /** slow_first_byte: delay before the first byte; idle: how long to stay silent (default forever). */
  delayMs: Schema.optional(NonNegative),
  /** stream_cut, malformed_event, idle: how many events go out before the fault (default 2). */
  afterEvents: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  /** stream_cut: destroy the connection instead of ending the chunked body cleanly. */
  abort: Schema.optional(Schema.Boolean),
  /** response_failed: the error code (default server_error) and message. */
  code: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  /** server_error, refresh_server_error: the status (default 500). */
  status: Schema.optional(Schema.Int),
  /**
   * refresh_reused, refresh_expired, refresh_invalidated: the shape of the 401 body, one of the three
   * that protocol §3 says clients read — `object` (default) `{error: {code, message, type, param}}`,
   * `string` `{error: code, error_description}` or `top_level` `{code, message}`.
   */
  shape: Schema.optional(Schema.Literals(["object", "string", "top_level"]))
}).check(
  Schema.makeFilter((rule) => {
    const route = faultRoute(rule)
    const accepted = routeFaultKinds[route]
    return (
      accepted.includes(rule.kind) ||
      `route ${route} cannot apply ${rule.kind}; it accepts ${accepted.length > 0 ? accepted.join(", ") : "no faults"}`
    )
  })
)
/** @since 0.1.0 @category models */
export type FaultRule = typeof FaultRule.Type

/**
 * A scripted reply: when the last user message contains `match`, answer with `text` or with a call to
 * `toolCall.name`. A function tool gets a `function_call` with `toolCall.arguments` (JSON text); a
 * freeform (`custom`) tool, such as the default model's `exec` or `apply_patch`, gets a
 * `custom_tool_call` with `toolCall.input` (raw text). Which one is decided by the tool the request
 * offers under that name; a tool the request does not offer gets a custom call when only `input` is
 * given.
 *
 * @since 0.1.0
 * @category models
 */
export const ScriptedReply = Schema.Struct({
  match: Schema.String,
  text: Schema.optional(Schema.String),
  toolCall: Schema.optional(
    Schema.Struct({
      name: Schema.String,
      arguments: Schema.optional(Schema.String),
      input: Schema.optional(Schema.String)
    })
  )
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
  /**
   * Refuse a /responses body without `instructions` (400 "Instructions are required"). The real
   * backend accepts the 0.169.0 CLI's requests, which have none (protocol §6.3), so this is off by
   * default; Nexus's own mapping tests turn it on, since Nexus always sends instructions (§12).
   */
  requireInstructions: Schema.Boolean,
  /**
   * How long an access token lives. Clients refresh a token once less than 5 minutes are left
   * (protocol §3), so a lifetime of 300 s or less hands out tokens that are due at once and clients
   * refresh in a loop: such lifetimes are refused unless `allowShortTokenLifetime` is set.
   */
  accessTokenTtlSeconds: Schema.Finite,
  /** Accept an access-token lifetime of 300 s or less, for tests of the refresh window itself. */
  allowShortTokenLifetime: Schema.Boolean,
  refreshTokenTtlSeconds: Schema.Finite,
  /** How long an authorization code lives, from the browser flow or from an approved device code. */
  authorizationCodeTtlSeconds: Schema.Finite,
  deviceCodeTtlSeconds: Schema.Finite,
  /** The `interval` the device-code endpoint hands out, in seconds. */
  deviceIntervalSeconds: Schema.Finite,
  /** false answers the device-code user-code request with 404, as a server without device code login. */
  deviceCodeEnabled: Schema.Boolean,
  /** Which account the auto-approve and the device shortcut sign in as (default: the first account). */
  loginAccount: Schema.String,
  /** Reject every refresh token of a family once one of its rotated tokens is reused. */
  revokeFamilyOnReuse: Schema.Boolean
})
/** @since 0.1.0 @category models */
export type Settings = typeof Settings.Type

/**
 * The clients' refresh window (protocol §3): a token with less than this left is refreshed first.
 *
 * @since 0.1.0
 * @category models
 */
export const REFRESH_WINDOW_SECONDS = 300

/**
 * Why a set of settings cannot be used, or undefined when it can: an access-token lifetime inside
 * the clients' refresh window makes every token they receive already due, so they refresh in a loop
 * (the real CLI made 3,058 refreshes in 120 s against such an emulator).
 *
 * @since 0.1.0
 * @category getters
 */
export const settingsProblem = (settings: Settings): string | undefined => {
  const ttl = settings.accessTokenTtlSeconds
  if (!(ttl > 0)) return `accessTokenTtlSeconds must be positive, not ${ttl}`
  if (ttl <= REFRESH_WINDOW_SECONDS && !settings.allowShortTokenLifetime)
    return `an access-token lifetime of ${ttl} s is inside the clients' ${REFRESH_WINDOW_SECONDS} s refresh window: every token would be due at once and clients would refresh in a loop. Use more than ${REFRESH_WINDOW_SECONDS} s, or set allowShortTokenLifetime (--allow-short-token-lifetime) for a test of the refresh window itself`
  return undefined
}

/**
 * A partial change of settings.
 *
 * @since 0.1.0
 * @category models
 */
export const SettingsPatch = Schema.Struct({
  approval: Schema.optional(Settings.fields.approval),
  requireInstructions: Schema.optional(Schema.Boolean),
  accessTokenTtlSeconds: Schema.optional(Schema.Finite),
  allowShortTokenLifetime: Schema.optional(Schema.Boolean),
  refreshTokenTtlSeconds: Schema.optional(Schema.Finite),
  authorizationCodeTtlSeconds: Schema.optional(Schema.Finite),
  deviceCodeTtlSeconds: Schema.optional(Schema.Finite),
  deviceIntervalSeconds: Schema.optional(Schema.Finite),
  deviceCodeEnabled: Schema.optional(Schema.Boolean),
  loginAccount: Schema.optional(Schema.String),
  revokeFamilyOnReuse: Schema.optional(Schema.Boolean)
})
/** @since 0.1.0 @category models */
export type SettingsPatch = typeof SettingsPatch.Type

/**
 * How far to move the emulator's clock forward: `seconds` plus `ms`, neither negative.
 *
 * @since 0.1.0
 * @category models
 */
export const ClockAdvance = Schema.Struct({ seconds: Schema.optional(NonNegative), ms: Schema.optional(NonNegative) })
/** @since 0.1.0 @category models */
export type ClockAdvance = typeof ClockAdvance.Type

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
 * One usage window of an account: the units used of its budget, and when it resets (unix seconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageWindow {
  readonly used: number
  readonly budget: number
  readonly window_minutes: number
  readonly reset_at: number
}

/**
 * An account's usage as the emulator counts it (units of its budget), as `GET /__admin/accounts/:id/usage`
 * answers it; `GET /wham/usage` reports the same windows in the backend's shape (percent, seconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly plan_type: Plan
  readonly primary: UsageWindow
  readonly secondary: UsageWindow
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
  refreshes: {
    succeeded: number
    rejected: number
    /** Rejected refreshes by reason: reused, expired, invalidated, invalid_client, server_error. */
    byReason: Record<string, number>
    /** Every refresh by the `refresh_reason` the client sent (protocol §3), `none` when it sent none. */
    byRefreshReason: Record<string, number>
  }
  revokes: number
  faultsInjected: number
  /**
   * The SSE replies of `/responses`: sent to their end, or closed by the client before their end
   * (a client that stops reading — a disconnect, a cancelled request — shows here).
   */
  streams: { completed: number; aborted: number }
}
