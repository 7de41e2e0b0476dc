/**
 * A faithful local stand-in for auth.openai.com and the ChatGPT Codex backend, served over real HTTP
 * on loopback, with an admin API for fault injection, clock control and counters.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Clock, Context, DateTime, Duration, Effect, Layer, Option, Schema } from "effect"
import { HttpRouter, HttpServer, type HttpServerError } from "effect/http"
import { NetAddress } from "effect/net"
import { createServer } from "node:http"
import { isIPv4 } from "node:net"
import {
  type Account,
  type AccountInput,
  type AccountPatch,
  type Counters,
  FaultKind,
  FaultRule,
  type RecordedRequest,
  type Route,
  type ScriptedReply,
  type Settings,
  type SettingsPatch,
  settingsProblem,
  type Usage
} from "./Domain.ts"
import { type Core, makeCore } from "./internal/core.ts"
import { routes } from "./internal/http.ts"
import { type CoreOptions, initialSettings } from "./internal/state.ts"

/**
 * The base URLs of a running emulator, named as Nexus's configuration names them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Urls {
  /** `CODEX_ISSUER`: where /oauth/authorize, /oauth/token, /oauth/revoke and device code live. */
  readonly issuer: string
  /** The ChatGPT backend base: /wham/accounts/check and /wham/usage live under it. */
  readonly chatgptBaseUrl: string
  /** `CODEX_BASE_URL`: /models and /responses live under it. */
  readonly codexBaseUrl: string
  /** The admin API. */
  readonly adminUrl: string
}

/**
 * How to start an emulator. Everything has a default: one `plus` account that auto-approves sign-in.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CoreOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number | undefined
  /** A loopback address (127.0.0.0/8, ::1 or localhost; default 127.0.0.1): anything else is refused. */
  readonly host?: string | undefined
}

/**
 * The tokens the issuer hands out, as its token endpoint answers.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenResponse {
  readonly id_token: string
  readonly access_token: string
  readonly refresh_token: string
  readonly token_type: string
  readonly expires_in: number
  readonly scope: string
}

/**
 * An admin operation named an account the emulator does not have.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()("AccountNotFound", {
  account: Schema.String
}) {
  override get message() {
    return `The emulator has no account ${JSON.stringify(this.account)}: add it with Emulator.addAccount first.`
  }
}

/**
 * An account was added with the id of an account the emulator already has.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountExists extends Schema.TaggedError<AccountExists>()("AccountExists", {
  account: Schema.String
}) {
  override get message() {
    return `The emulator already has an account ${JSON.stringify(this.account)}: change it with Emulator.updateAccount.`
  }
}

/**
 * A device-code operation named a user code that is unknown, already approved or denied, or expired.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceCodeNotFound extends Schema.TaggedError<DeviceCodeNotFound>()("DeviceCodeNotFound", {
  userCode: Schema.String,
  reason: Schema.Literals(["unknown", "expired"])
}) {
  override get message() {
    return `Device code ${this.userCode} is ${this.reason}: request a new one from /api/accounts/deviceauth/usercode.`
  }
}

/**
 * A fault rule was refused: its route cannot apply its kind, or a number is out of range.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidFault extends Schema.TaggedError<InvalidFault>()("InvalidFault", {
  kind: FaultKind,
  reason: Schema.String
}) {
  override get message() {
    return `The emulator cannot inject this ${this.kind} fault: ${this.reason}`
  }
}

/**
 * Settings the emulator refuses, such as an access-token lifetime inside the clients' 5-minute
 * refresh window, which would make every client refresh in a loop.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSettings extends Schema.TaggedError<InvalidSettings>()("InvalidSettings", {
  reason: Schema.String
}) {
  override get message() {
    return `The emulator refuses these settings: ${this.reason}.`
  }
}

/**
 * The emulator was asked to listen on an address other than loopback. It refuses: its admin API
 * mints tokens and hands out recorded requests, secrets included.
 *
 * @since 0.1.0
 * @category errors
 */
export class NonLoopbackHost extends Schema.TaggedError<NonLoopbackHost>()("NonLoopbackHost", {
  host: Schema.String
}) {
  override get message() {
    return `The emulator listens on loopback only (127.0.0.0/8, ::1 or localhost), not ${this.host}: its admin API mints tokens and returns recorded secrets.`
  }
}

const isLoopback = (host: string) => host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."))

/**
 * The emulator as a service: its URLs and every admin operation, in process.
 *
 * @since 0.1.0
 * @category services
 */
export class Emulator extends Context.Service<
  Emulator,
  {
    readonly urls: Urls
    /** The emulator's clock, which `advanceClock` moves ahead of real time. */
    readonly now: Effect.Effect<DateTime.Utc>
    readonly accounts: Effect.Effect<ReadonlyArray<Account>>
    readonly addAccount: (input: AccountInput) => Effect.Effect<Account, AccountExists>
    readonly updateAccount: (id: string, patch: AccountPatch) => Effect.Effect<Account, AccountNotFound>
    readonly settings: Effect.Effect<Settings>
    /** Fails with InvalidSettings, changing nothing, when the result would be unusable. */
    readonly updateSettings: (patch: SettingsPatch) => Effect.Effect<Settings, InvalidSettings>
    /** Every access token issued so far answers 401 token_expired; refresh tokens keep working. */
    readonly expireTokens: (account: string) => Effect.Effect<void, AccountNotFound>
    /** Every token issued so far is revoked: 401 on the backend, refresh_token_invalidated on refresh. */
    readonly revokeTokens: (account: string) => Effect.Effect<void, AccountNotFound>
    /** Signs in an account without a browser, as a completed authorization-code flow would. */
    readonly issueTokens: (account?: string) => Effect.Effect<TokenResponse, AccountNotFound>
    /** An account's usage windows in budget units, as `GET /__admin/accounts/:id/usage` reports them. */
    readonly usage: (account: string) => Effect.Effect<Usage, AccountNotFound>
    /** Moves the emulator's clock (token expiry, usage windows) forward; a negative duration is a defect. */
    readonly advanceClock: (by: Duration.Input) => Effect.Effect<void>
    readonly injectFault: (rule: FaultRule) => Effect.Effect<void, InvalidFault>
    readonly clearFaults: Effect.Effect<void>
    readonly setReplies: (replies: ReadonlyArray<ScriptedReply>) => Effect.Effect<void>
    /** The admin shortcut for the device-code page: approve (or deny) a user code, once. */
    readonly approveDevice: (
      userCode: string,
      options?: { readonly account?: string | undefined; readonly deny?: boolean | undefined }
    ) => Effect.Effect<void, DeviceCodeNotFound | AccountNotFound>
    readonly counters: Effect.Effect<Counters>
    readonly lastRequest: (route: Route) => Effect.Effect<Option.Option<RecordedRequest>>
    /** Back to the initial state, with a new signing key: tokens minted before no longer verify. */
    readonly reset: Effect.Effect<void>
  }
>()("@nexus/codex-emulator/Emulator") {
  /**
   * Starts an emulator on loopback for the life of the layer's scope.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = (
    options: Options = {}
  ): Layer.Layer<Emulator, HttpServerError.ServeError | NonLoopbackHost | InvalidSettings> =>
    Layer.unwrap(
      Effect.gen(function* () {
        const host = options.host ?? "127.0.0.1"
        if (!isLoopback(host)) return yield* new NonLoopbackHost({ host })
        const problem = settingsProblem(initialSettings(options, ""))
        if (problem !== undefined) return yield* new InvalidSettings({ reason: problem })
        const core = makeCore(options)
        const server = HttpRouter.serve(routes(core), {
          disableLogger: true,
          disableListenLog: true
        })
        const service = Layer.effect(
          Emulator,
          Effect.gen(function* () {
            const { address } = yield* HttpServer.HttpServer
            if (address._tag === "UnixPathAddress")
              return yield* Effect.die(new Error("the emulator listens on TCP only"))
            const origin = NetAddress.formatUrlUnsafe(address)
            core.setIssuer(origin)
            return makeService(core, {
              issuer: origin,
              chatgptBaseUrl: `${origin}/backend-api`,
              codexBaseUrl: `${origin}/backend-api/codex`,
              adminUrl: `${origin}/__admin`
            })
          })
        )
        return Layer.merge(service, server).pipe(
          Layer.provide(NodeHttpServer.layer(createServer, { port: options.port ?? 0, host })),
          // The emulator keeps real time (its own clock is `advanceClock`), even inside tests that
          // run on a TestClock: a slow first byte or an idle stream must really wait.
          Layer.provide(Layer.succeed(Clock.Clock)(Clock.Clock.defaultValue()))
        )
      })
    )
}

const decodeFault = Schema.decodeEffect(FaultRule)

const makeService = (core: Core, urls: Urls): Emulator["Service"] =>
  Emulator.of({
    urls,
    now: Effect.sync(() => DateTime.makeUnsafe(core.now())),
    accounts: Effect.sync(() => core.accountList()),
    addAccount: Effect.fn("Emulator.addAccount")(function* (input: AccountInput) {
      const added = core.addAccount(input)
      if (!added.ok) return yield* new AccountExists({ account: added.existing })
      return added.account
    }),
    updateAccount: Effect.fn("Emulator.updateAccount")(function* (id: string, patch: AccountPatch) {
      const account = core.patchAccount(id, patch)
      if (account === undefined) return yield* new AccountNotFound({ account: id })
      return account
    }),
    settings: Effect.sync(() => core.settings),
    updateSettings: Effect.fn("Emulator.updateSettings")(function* (patch: SettingsPatch) {
      const updated = core.updateSettings(patch)
      if (!updated.ok) return yield* new InvalidSettings({ reason: updated.problem })
      return updated.settings
    }),
    expireTokens: Effect.fn("Emulator.expireTokens")(function* (account: string) {
      if (!core.expireTokens(account)) return yield* new AccountNotFound({ account })
    }),
    revokeTokens: Effect.fn("Emulator.revokeTokens")(function* (account: string) {
      if (!core.revokeTokens(account)) return yield* new AccountNotFound({ account })
    }),
    issueTokens: Effect.fn("Emulator.issueTokens")(function* (account?: string) {
      const id = account ?? core.settings.loginAccount
      if (!core.findAccount(id)) return yield* new AccountNotFound({ account: id })
      return core.mintTokens(id)
    }),
    usage: Effect.fn("Emulator.usage")(function* (account: string) {
      const state = core.findAccount(account)
      if (!state) return yield* new AccountNotFound({ account })
      return core.usage(state)
    }),
    advanceClock: Effect.fn("Emulator.advanceClock")(function* (by: Duration.Input) {
      const ms = Duration.toMillis(by)
      if (ms < 0) return yield* Effect.die(new RangeError(`advanceClock moves the clock forward only, not by ${ms} ms`))
      core.advanceClock(ms)
    }),
    injectFault: Effect.fn("Emulator.injectFault")(function* (rule: FaultRule) {
      const valid = yield* Effect.mapError(
        decodeFault(rule),
        (error) => new InvalidFault({ kind: rule.kind, reason: error.message })
      )
      core.injectFault(valid)
    }),
    clearFaults: Effect.sync(() => core.clearFaults()),
    setReplies: Effect.fn("Emulator.setReplies")(function* (replies: ReadonlyArray<ScriptedReply>) {
      yield* Effect.sync(() => core.setReplies(replies))
    }),
    approveDevice: Effect.fn("Emulator.approveDevice")(function* (
      userCode: string,
      options?: { readonly account?: string | undefined; readonly deny?: boolean | undefined }
    ) {
      const account = options?.account ?? core.settings.loginAccount
      const result = core.decideDevice(userCode, options?.deny !== true, account)
      if (result === "no_account") return yield* new AccountNotFound({ account })
      if (result !== "ok") return yield* new DeviceCodeNotFound({ userCode, reason: result })
    }),
    counters: Effect.sync(() => core.counters()),
    lastRequest: Effect.fn("Emulator.lastRequest")(function* (route: Route) {
      return yield* Effect.sync(() => Option.fromUndefinedOr(core.lastRequest(route)))
    }),
    reset: Effect.sync(() => core.reset())
  })
