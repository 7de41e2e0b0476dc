// The answers the core gives its HTTP routes: a status, a JSON body and extra headers, in the error
// shapes the real services use.

/** A JSON answer: status, body and extra headers. */
export interface JsonReply {
  readonly _tag: "Json"
  readonly status: number
  readonly body: unknown
  readonly headers?: Record<string, string>
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): JsonReply =>
  headers === undefined ? { _tag: "Json", status, body } : { _tag: "Json", status, body, headers }

/** The error body shape the auth service uses for OAuth grant errors (RFC 6749 §5.2). */
export const oauthError = (status: number, error: string, description: string): JsonReply =>
  json(status, { error, error_description: description })

/** The error body shape the auth service uses for refresh failures (protocol §3). */
export const codedError = (status: number, code: string, message: string): JsonReply =>
  json(status, { error: { code, message, type: "invalid_request_error", param: null } })
