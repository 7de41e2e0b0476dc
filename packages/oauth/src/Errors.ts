/**
 * The typed failures of signing in with ChatGPT. Every message says what happened and what to do
 * next, and none carries a token.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The browser's callback could not complete the sign-in.
 *
 * @since 0.1.0
 * @category errors
 */
export class OAuthCallbackError extends Schema.TaggedError<OAuthCallbackError>()("OAuthCallbackError", {
  reason: Schema.Literals(["denied", "missing_entitlement", "missing_code", "cancelled"]),
  /** What the issuer said (`error_description`), HTML-free. */
  detail: Schema.optional(Schema.String)
}) {
  override get message() {
    switch (this.reason) {
      case "missing_entitlement":
        return "This ChatGPT workspace has no access to Codex (missing_codex_entitlement): ask its admin to enable Codex, or sign in with another workspace."
      case "denied":
        return `Sign-in was denied${this.detail ? ` (${this.detail})` : ""}; run \`nexus login\` again and approve the request.`
      case "missing_code":
        return "The sign-in callback carried no authorization code; run `nexus login` again."
      case "cancelled":
        return "The sign-in was cancelled (another login took over the callback port); run `nexus login` again."
    }
  }
}

/**
 * A sign-in was not completed in time.
 *
 * @since 0.1.0
 * @category errors
 */
export class OAuthTimeout extends Schema.TaggedError<OAuthTimeout>()("OAuthTimeout", {
  flow: Schema.Literals(["browser", "device"]),
  seconds: Schema.Finite
}) {
  override get message() {
    return `The ${this.flow} sign-in was not completed within ${this.seconds} s; run \`nexus login${this.flow === "device" ? " --device" : ""}\` again.`
  }
}

/**
 * The issuer refused a refresh token for good: expired, already used, or invalidated (revoked), or
 * any 401. Refreshing again cannot help; the account must sign in again.
 *
 * @since 0.1.0
 * @category errors
 */
export class RefreshRejected extends Schema.TaggedError<RefreshRejected>()("RefreshRejected", {
  reason: Schema.Literals(["expired", "reused", "invalidated", "unauthorized"]),
  status: Schema.Finite
}) {
  override get message() {
    const why = {
      expired: "the refresh token has expired",
      reused: "the refresh token was already used (another process refreshed it first)",
      invalidated: "the refresh token was revoked",
      unauthorized: "the issuer no longer accepts this sign-in"
    }[this.reason]
    return `ChatGPT refused to refresh the sign-in: ${why}. Sign in again with \`nexus login\`.`
  }
}

/**
 * A request to the issuer failed without a verdict on the sign-in itself: no answer (network,
 * timeout), 429, 5xx (`retryable`), or another refusal the caller should not repeat as is.
 *
 * @since 0.1.0
 * @category errors
 */
export class OAuthHttpError extends Schema.TaggedError<OAuthHttpError>()("OAuthHttpError", {
  operation: Schema.String,
  status: Schema.optional(Schema.Finite),
  detail: Schema.String,
  retryable: Schema.Boolean,
  /** Seconds the issuer asked to wait (Retry-After), when it said. */
  retryAfter: Schema.optional(Schema.Finite)
}) {
  override get message() {
    const what = `${this.operation} failed${this.status === undefined ? "" : ` with HTTP ${this.status}`}: ${this.detail}`
    if (!this.retryable) return `${what}. Check CODEX_ISSUER and CODEX_CLIENT_ID, then sign in again.`
    if (this.retryAfter !== undefined)
      return `${what}. The issuer asks to wait ${this.retryAfter} s before trying again.`
    return this.status === undefined
      ? `${what}. Check the network and CODEX_ISSUER, then try again.`
      : `${what}. The issuer is having trouble; try again shortly.`
  }
}

/**
 * The token endpoint answered 2xx with something that is not a usable ChatGPT sign-in.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTokenResponse extends Schema.TaggedError<InvalidTokenResponse>()("InvalidTokenResponse", {
  field: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `The token response is unusable: ${this.field} ${this.problem}. Check that CODEX_ISSUER points at the ChatGPT sign-in service, then sign in again.`
  }
}

/**
 * The device-code sign-in failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceCodeError extends Schema.TaggedError<DeviceCodeError>()("DeviceCodeError", {
  reason: Schema.Literals(["not_enabled", "denied", "expired", "failed"]),
  detail: Schema.optional(Schema.String)
}) {
  override get message() {
    switch (this.reason) {
      case "not_enabled":
        return "Device code sign-in is not enabled for this account or workspace: use `nexus login` (browser) or ask the workspace admin to enable it."
      case "denied":
        return "The device code was denied; run `nexus login --device` again and approve it."
      case "expired":
        return "The device code expired before it was approved; run `nexus login --device` again."
      case "failed":
        return `The device code sign-in failed${this.detail ? `: ${this.detail}` : ""}; run \`nexus login --device\` again.`
    }
  }
}

/**
 * The loopback callback server could not listen.
 *
 * @since 0.1.0
 * @category errors
 */
export class CallbackServerError extends Schema.TaggedError<CallbackServerError>()("CallbackServerError", {
  ports: Schema.Array(Schema.Finite),
  detail: Schema.String
}) {
  override get message() {
    return `Could not listen for the sign-in callback on 127.0.0.1 port ${this.ports.join(" or ")} (${this.detail}): stop the program using it, or sign in with \`nexus login --device\`.`
  }
}

/**
 * A credentials file could not be imported.
 *
 * @since 0.1.0
 * @category errors
 */
export class CredentialsFileError extends Schema.TaggedError<CredentialsFileError>()("CredentialsFileError", {
  path: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `Cannot import ${this.path}: ${this.problem}. Check the file, or sign in with \`nexus login\` instead.`
  }
}

/**
 * An endpoint setting (`CODEX_ISSUER`, `CODEX_BASE_URL`…) that would send tokens in the clear or
 * is not a URL: only https, or http to this machine (loopback), is accepted.
 *
 * @since 0.1.0
 * @category errors
 */
export class InsecureEndpoint extends Schema.TaggedError<InsecureEndpoint>()("InsecureEndpoint", {
  variable: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `${this.variable} ${this.problem}: tokens go there, so it must be an https:// URL (http:// only for 127.0.0.1, ::1 or localhost, such as the emulator).`
  }
}
