/**
 * A faithful local stand-in for auth.openai.com and the ChatGPT Codex backend, served over real HTTP
 * on loopback, with an admin API for fault injection, clock control and counters.
 *
 * @since 0.1.0
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { HttpRouter, HttpServer, type HttpServerError } from "effect/http"
import { NetAddress } from "effect/net"
import { createServer } from "node:http"
import type {
  Account,
  AccountInput,
  AccountPatch,
  Counters,
  FaultRule,
  RecordedRequest,
  Route,
  ScriptedReply,
  Settings,
  SettingsPatch
} from "./Domain.ts"
import { type CoreOptions, makeCore } from "./internal/core.ts"
import { adminRoutes, authRoutes, backendRoutes } from "./internal/http.ts"

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
  /** Loopback only by default. */
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
 * A device-code operation named a user code that is unknown, already used or expired.
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
 * The emulator as a service: its URLs and every admin operation, in process.
 *
 * @since 0.1.0
 * @category services
 */
export class Emulator extends Context.Service<
  Emulator,
  {
    readonly urls: Urls
    readonly accounts: Effect.Effect<ReadonlyArray<Account>>
    readonly addAccount: (input: AccountInput) => Effect.Effect<Account>
    readonly updateAccount: (id: string, patch: AccountPatch) => Effect.Effect<Account, AccountNotFound>
    readonly settings: Effect.Effect<Settings>
    readonly updateSettings: (patch: SettingsPatch) => Effect.Effect<Settings>
    /** Every access token issued so far answers 401 token_expired; refresh tokens keep working. */
    readonly expireTokens: (account: string) => Effect.Effect<void, AccountNotFound>
    /** Every token issued so far is revoked: 401 on the backend, refresh_token_invalidated on refresh. */
    readonly revokeTokens: (account: string) => Effect.Effect<void, AccountNotFound>
    /** Signs in an account without a browser, as a completed authorization-code flow would. */
    readonly issueTokens: (account?: string) => Effect.Effect<TokenResponse, AccountNotFound>
    /** Moves the emulator's clock (token expiry, usage windows) forward. */
    readonly advanceClock: (by: Duration.Input) => Effect.Effect<void>
    readonly injectFault: (rule: FaultRule) => Effect.Effect<void>
    readonly clearFaults: Effect.Effect<void>
    readonly setReplies: (replies: ReadonlyArray<ScriptedReply>) => Effect.Effect<void>
    /** The admin shortcut for the device-code page: approve (or deny) a user code. */
    readonly approveDevice: (
      userCode: string,
      options?: { readonly account?: string | undefined; readonly deny?: boolean | undefined }
    ) => Effect.Effect<void, DeviceCodeNotFound>
    readonly counters: Effect.Effect<Counters>
    readonly lastRequest: (route: Route) => Effect.Effect<Option.Option<RecordedRequest>>
    readonly reset: Effect.Effect<void>
  }
>()("@nexus/codex-emulator/Emulator") {
  /**
   * Starts an emulator on loopback for the life of the layer's scope.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = (options: Options = {}): Layer.Layer<Emulator, HttpServerError.ServeError> =>
    Layer.unwrap(
      Effect.sync(() => {
        const core = makeCore(options)
        const server = HttpRouter.serve(Layer.mergeAll(authRoutes(core), backendRoutes(core), adminRoutes(core)), {
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
          Layer.provide(
            NodeHttpServer.layer(createServer, { port: options.port ?? 0, host: options.host ?? "127.0.0.1" })
          ),
          // The emulator keeps real time (its own clock is `advanceClock`), even inside tests that
          // run on a TestClock: a slow first byte or an idle stream must really wait.
          Layer.provide(Layer.succeed(Clock.Clock)(Clock.Clock.defaultValue()))
        )
      })
    )
}

const makeService = (core: ReturnType<typeof makeCore>, urls: Urls): Emulator["Service"] => {
  const withAccount = <A>(id: string, f: () => A | undefined | false) =>
    Effect.suspend(() => {
      const result = f()
      return result === undefined || result === false
        ? Effect.fail(new AccountNotFound({ account: id }))
        : Effect.succeed(result)
    })
  return Emulator.of({
    urls,
    accounts: Effect.sync(() => core.accountList()),
    addAccount: (input) => Effect.sync(() => core.addAccount(input)),
    updateAccount: (id, patch) => withAccount(id, () => core.patchAccount(id, patch)),
    settings: Effect.sync(() => core.settings),
    updateSettings: (patch) => Effect.sync(() => core.updateSettings(patch)),
    expireTokens: (id) => Effect.asVoid(withAccount(id, () => core.expireTokens(id))),
    revokeTokens: (id) => Effect.asVoid(withAccount(id, () => core.revokeTokens(id))),
    issueTokens: (account) => {
      const id = account ?? core.settings.loginAccount
      return withAccount(id, () => core.findAccount(id) && (core.mintTokens(id) as TokenResponse))
    },
    advanceClock: (by) => Effect.sync(() => void core.advanceClock(Duration.toMillis(by))),
    injectFault: (rule) => Effect.sync(() => core.injectFault(rule)),
    clearFaults: Effect.sync(() => core.clearFaults()),
    setReplies: (replies) => Effect.sync(() => core.setReplies(replies)),
    approveDevice: (userCode, options) =>
      Effect.suspend(() => {
        const result = core.decideDevice(userCode, options?.deny !== true, options?.account)
        return result === "ok" ? Effect.void : Effect.fail(new DeviceCodeNotFound({ userCode, reason: result }))
      }),
    counters: Effect.sync(() => core.counters()),
    lastRequest: (route) => Effect.sync(() => Option.fromUndefinedOr(core.lastRequest(route))),
    reset: Effect.sync(() => core.reset())
  })
}
