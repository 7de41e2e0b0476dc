/**
 * Where and as whom Nexus signs in: issuer, client id, redirect URI, originator. Every value is
 * configurable so real users reach the real services and tests reach the emulator.
 *
 * @since 0.1.0
 */
import { InsecureEndpoint } from "./Errors.ts"
import { Config, Context, Duration, Effect, Layer, Option, type Redacted } from "effect"

/**
 * The public Codex CLI client id (protocol §1).
 *
 * @since 0.1.0
 * @category constants
 */
export const CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"

/**
 * The scopes the Codex CLI asks for (protocol §1).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SCOPE = "openid profile email offline_access api.connectors.read api.connectors.invoke"

/**
 * The fallback callback port the issuer has registered next to 1455 (protocol §1).
 *
 * @since 0.1.0
 * @category constants
 */
export const FALLBACK_CALLBACK_PORT = 1457

/**
 * The resolved OAuth settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: Option.Option<Redacted.Redacted<string>>
  /** The redirect URI registered with the issuer; its port is the callback server's first choice. */
  readonly redirectUri: string
  readonly originator: string
  readonly scope: string
  readonly userAgent: string
  /** Where refresh goes (`CODEX_REFRESH_TOKEN_URL_OVERRIDE`, else `{issuer}/oauth/token`). */
  readonly refreshUrl: string
  /** Where revoke goes (`CODEX_REVOKE_TOKEN_URL_OVERRIDE`, else beside the refresh URL). */
  readonly revokeUrl: string
  readonly loginTimeout: Duration.Duration
  readonly deviceCodeTimeout: Duration.Duration
  readonly requestTimeout: Duration.Duration
  /** The shortest pause between device-code polls, whatever interval the server names. */
  readonly minimumPollInterval: Duration.Duration
}

/**
 * What a caller may set; everything else takes the Codex CLI's defaults.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = Partial<Settings> & { readonly issuer?: string }

const trimSlash = (url: string) => url.replace(/\/+$/, "")

/**
 * Resolves settings from partial input, deriving the token URLs from the issuer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input = {}): Settings => {
  const issuer = trimSlash(input.issuer ?? "https://auth.openai.com")
  const refreshUrl = input.refreshUrl ?? `${issuer}/oauth/token`
  // As the Codex CLI: beside the issuer, or, with a refresh URL override, that URL's origin with
  // the path /oauth/revoke (protocol §1 end).
  const revokeUrl =
    input.refreshUrl === undefined ? `${issuer}/oauth/revoke` : `${new URL(input.refreshUrl).origin}/oauth/revoke`
  return {
    issuer,
    clientId: input.clientId ?? CODEX_CLIENT_ID,
    clientSecret: input.clientSecret ?? Option.none(),
    redirectUri: input.redirectUri ?? "http://localhost:1455/auth/callback",
    originator: input.originator ?? "codex_cli_rs",
    scope: input.scope ?? DEFAULT_SCOPE,
    userAgent: input.userAgent ?? `nexus/0.1.0 (${process.platform}; ${process.arch}) node/${process.versions.node}`,
    refreshUrl,
    revokeUrl: input.revokeUrl ?? revokeUrl,
    loginTimeout: input.loginTimeout ?? Duration.minutes(10),
    deviceCodeTimeout: input.deviceCodeTimeout ?? Duration.minutes(15),
    requestTimeout: input.requestTimeout ?? Duration.seconds(30),
    minimumPollInterval: input.minimumPollInterval ?? Duration.seconds(1)
  }
}

/**
 * The OAuth settings as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class OAuthConfig extends Context.Service<OAuthConfig, Settings>()("@nexus/oauth/OAuthConfig") {
  /**
   * Settings given in code (tests, embedding).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = (input: Input = {}): Layer.Layer<OAuthConfig> => Layer.succeed(OAuthConfig)(make(input))

  /**
   * Settings read from the environment: `CODEX_ISSUER`, `CODEX_CLIENT_ID`, `CODEX_CLIENT_SECRET`,
   * `CODEX_REDIRECT_URI`, `CODEX_ORIGINATOR`, `CODEX_REFRESH_TOKEN_URL_OVERRIDE`,
   * `CODEX_REVOKE_TOKEN_URL_OVERRIDE`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerConfig: Layer.Layer<OAuthConfig, Config.ConfigError | InsecureEndpoint> = Layer.effect(
    OAuthConfig
  )(
    Effect.gen(function* () {
      const optional = (name: string) => Config.option(Config.String(name))
      const issuer = yield* optional("CODEX_ISSUER")
      const clientId = yield* optional("CODEX_CLIENT_ID")
      const clientSecret = yield* Config.option(Config.Redacted("CODEX_CLIENT_SECRET"))
      const redirectUri = yield* optional("CODEX_REDIRECT_URI")
      const originator = yield* optional("CODEX_ORIGINATOR")
      const refreshUrl = yield* optional("CODEX_REFRESH_TOKEN_URL_OVERRIDE")
      const revokeUrl = yield* optional("CODEX_REVOKE_TOKEN_URL_OVERRIDE")
      for (const [variable, value] of [
        ["CODEX_ISSUER", issuer],
        ["CODEX_REFRESH_TOKEN_URL_OVERRIDE", refreshUrl],
        ["CODEX_REVOKE_TOKEN_URL_OVERRIDE", revokeUrl]
      ] as const) {
        if (Option.isSome(value)) yield* requireHttps(variable, value.value)
      }
      const given = <K extends keyof Input>(key: K, value: Option.Option<NonNullable<Input[K]>>) =>
        Option.isSome(value) ? { [key]: value.value } : {}
      return make({
        ...given("issuer", issuer),
        ...given("clientId", clientId),
        clientSecret,
        ...given("redirectUri", redirectUri),
        ...given("originator", originator),
        ...given("refreshUrl", refreshUrl),
        ...given("revokeUrl", revokeUrl)
      })
    })
  )
}

const isLoopback = (host: string) =>
  host === "localhost" ||
  host.endsWith(".localhost") ||
  host === "[::1]" ||
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/**
 * `url` when it is https, or http to a loopback host; else `InsecureEndpoint` naming `variable`.
 *
 * @since 0.1.0
 * @category config
 */
export const requireHttps = (variable: string, url: string): Effect.Effect<string, InsecureEndpoint> =>
  Effect.suspend(() => {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return Effect.fail(new InsecureEndpoint({ variable, problem: "is not a URL" }))
    }
    if (parsed.protocol === "https:") return Effect.succeed(url)
    if (parsed.protocol === "http:" && isLoopback(parsed.hostname)) return Effect.succeed(url)
    return Effect.fail(
      new InsecureEndpoint({
        variable,
        problem: `is ${parsed.protocol}//${parsed.host}, which is neither https nor this machine`
      })
    )
  })
