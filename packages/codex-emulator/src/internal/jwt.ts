import { createHmac, timingSafeEqual } from "node:crypto"

const encodeJson = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url")
const HEADER = encodeJson({ alg: "HS256", typ: "JWT", kid: "nexus-emulator" })

/** Signs claims as an HS256 JWT with the emulator's key. */
export const sign = (key: Buffer, claims: Record<string, unknown>): string => {
  const body = `${HEADER}.${encodeJson(claims)}`
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`
}

/** The claims of a token signed with `key`, or undefined when the token is malformed or forged. */
export const verify = (key: Buffer, token: string): Record<string, unknown> | undefined => {
  const dot = token.lastIndexOf(".")
  const first = token.indexOf(".")
  if (first <= 0 || dot <= first) return undefined
  const expected = createHmac("sha256", key).update(token.slice(0, dot)).digest()
  const given = Buffer.from(token.slice(dot + 1), "base64url")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  try {
    const claims: unknown = JSON.parse(Buffer.from(token.slice(first + 1, dot), "base64url").toString("utf8"))
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
