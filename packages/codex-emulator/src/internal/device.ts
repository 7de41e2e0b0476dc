// The device-code sign-in (protocol §2): a user code for the terminal, approved or denied on the
// /codex/device page (or the admin shortcut), then polled for an authorization code.
import { randomBytes } from "node:crypto"
import { base64url, DEFAULT_SCOPE, type Issuer, MISSING_ENTITLEMENT, s256 } from "./issuer.ts"
import { json, type JsonReply, oauthError } from "./reply.ts"
import type { State } from "./state.ts"

type DeviceDecision =
  | { readonly _tag: "Approved"; readonly code: string; readonly verifier: string; readonly challenge: string }
  | { readonly _tag: "Denied"; readonly description: string }

interface DeviceGrant {
  readonly deviceAuthId: string
  readonly userCode: string
  readonly clientId: string
  readonly expiresAt: number
  decision: DeviceDecision | undefined
}

/** The device codes handed out, and the operations of the device-code flow. */
export const makeDevice = (shared: State, issuer: Issuer) => {
  const { accounts, clientIds, now } = shared
  const { newCode } = issuer
  const devices = new Map<string, DeviceGrant>()

  const reset = () => {
    devices.clear()
  }

  const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
  const newUserCode = () => {
    const bytes = randomBytes(8)
    let code = ""
    for (let i = 0; i < 8; i++) code += userCodeAlphabet[bytes[i]! % userCodeAlphabet.length]
    return `${code.slice(0, 4)}-${code.slice(4)}`
  }

  const requestUserCode = (body: Readonly<Record<string, unknown>>): JsonReply => {
    if (!shared.settings.deviceCodeEnabled) return json(404, { error: "not_found", error_description: "Not Found" })
    if (typeof body.client_id !== "string" || !clientIds.has(body.client_id)) {
      return oauthError(400, "invalid_client", "Unknown client_id.")
    }
    const grant: DeviceGrant = {
      deviceAuthId: `deviceauth_${base64url(randomBytes(16))}`,
      userCode: newUserCode(),
      clientId: body.client_id,
      expiresAt: now() + shared.settings.deviceCodeTtlSeconds * 1000,
      decision: undefined
    }
    devices.set(grant.userCode, grant)
    return json(200, {
      device_auth_id: grant.deviceAuthId,
      user_code: grant.userCode,
      interval: String(shared.settings.deviceIntervalSeconds),
      expires_at: new Date(grant.expiresAt).toISOString()
    })
  }

  const normalizeUserCode = (code: string) => {
    const bare = code.toUpperCase().replace(/[^A-Z0-9]/g, "")
    return bare.length === 8 ? `${bare.slice(0, 4)}-${bare.slice(4)}` : code.toUpperCase()
  }

  /**
   * Approves (as `accountId`) or denies a device code, as the /codex/device page or the admin
   * shortcut does. A code is decided once: afterwards it is `unknown`. An account without Codex
   * entitlement gets the code denied.
   */
  const decideDevice = (
    userCode: string,
    approve: boolean,
    accountId: string
  ): "ok" | "unknown" | "expired" | "no_account" => {
    const grant = devices.get(normalizeUserCode(userCode))
    if (!grant || grant.decision !== undefined) return "unknown"
    if (grant.expiresAt <= now()) return "expired"
    if (!approve) {
      grant.decision = { _tag: "Denied", description: "The user denied the request." }
      return "ok"
    }
    const account = accounts.get(accountId)?.account
    if (!account) return "no_account"
    if (!account.entitled) {
      grant.decision = { _tag: "Denied", description: MISSING_ENTITLEMENT }
      return "ok"
    }
    const verifier = base64url(randomBytes(64))
    const challenge = s256(verifier)
    const code = newCode({
      clientId: grant.clientId,
      redirectUri: `${shared.issuer}/deviceauth/callback`,
      challenge,
      accountId: account.id,
      scope: DEFAULT_SCOPE
    })
    grant.decision = { _tag: "Approved", code, verifier, challenge }
    return "ok"
  }

  const pollDevice = (body: Readonly<Record<string, unknown>>): JsonReply => {
    const grant = typeof body.user_code === "string" ? devices.get(normalizeUserCode(body.user_code)) : undefined
    if (!grant || grant.deviceAuthId !== body.device_auth_id) {
      return json(400, { error: "invalid_request", error_description: "Unknown device_auth_id or user_code." })
    }
    if (grant.expiresAt <= now()) {
      return json(400, {
        error: "expired_token",
        error_description: "The device code has expired. Start the sign-in again."
      })
    }
    switch (grant.decision?._tag) {
      case undefined:
        return json(403, {
          error: "authorization_pending",
          error_description: "The user has not approved the code yet."
        })
      case "Denied":
        return json(400, { error: "access_denied", error_description: grant.decision.description })
      case "Approved":
        devices.delete(grant.userCode)
        return json(200, {
          authorization_code: grant.decision.code,
          code_challenge: grant.decision.challenge,
          code_verifier: grant.decision.verifier
        })
    }
  }

  return { reset, requestUserCode, pollDevice, decideDevice }
}
