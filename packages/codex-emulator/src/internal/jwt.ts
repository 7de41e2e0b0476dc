// The emulator's tokens: RS256 JWTs as auth.openai.com issues them, so that clients validating the
// id token's header (oauth4webapi expects RS256) behave as they would against the real issuer.
// One RSA key per process (generating one takes tens of milliseconds); every signer has its own key
// id, and a token whose `kid` is not the signer's current one does not verify.
import { generateKeyPairSync, type KeyObject, randomBytes, sign as rsaSign, verify as rsaVerify } from "node:crypto"

let keyPair: { readonly privateKey: KeyObject; readonly publicKey: KeyObject } | undefined
const processKey = () => (keyPair ??= generateKeyPairSync("rsa", { modulusLength: 2048 }))

const encodeJson = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url")
const decodeJson = (part: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

export interface Signer {
  readonly kid: string
  readonly sign: (claims: Record<string, unknown>) => string
  /** The claims of a token this signer issued, or undefined when it is malformed, forged or from another key id. */
  readonly verify: (token: string) => Record<string, unknown> | undefined
  /** The public key as a JWKS document. */
  readonly jwks: () => { readonly keys: ReadonlyArray<Record<string, unknown>> }
}

export const makeSigner = (): Signer => {
  const { privateKey, publicKey } = processKey()
  const kid = `emulator-${randomBytes(6).toString("hex")}`
  const header = encodeJson({ alg: "RS256", typ: "JWT", kid })
  return {
    kid,
    sign: (claims) => {
      const body = `${header}.${encodeJson(claims)}`
      return `${body}.${rsaSign("sha256", Buffer.from(body), privateKey).toString("base64url")}`
    },
    verify: (token) => {
      const [head, payload, signature, extra] = token.split(".")
      if (!head || !payload || !signature || extra !== undefined) return undefined
      const parsedHeader = decodeJson(head)
      if (parsedHeader?.alg !== "RS256" || parsedHeader.kid !== kid) return undefined
      const valid = rsaVerify(
        "sha256",
        Buffer.from(`${head}.${payload}`),
        publicKey,
        Buffer.from(signature, "base64url")
      )
      return valid ? decodeJson(payload) : undefined
    },
    jwks: () => ({ keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }] })
  }
}
