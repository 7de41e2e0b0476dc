// The one place that knows how Nexus talks to the Codex backend, for every request it sends
// (`/responses` and `/models`): the default URL and originator, the headers that carry the
// sign-in (protocol §6.2), the one 401 recovery through Credentials (protocol §8), and how a
// failure is told in one line.
import type { Credentials } from "@nexus/token-store"
import type { TokenSet } from "@nexus/oauth"
import { Effect, Redacted } from "effect"

/** The public Codex backend. */
export const DEFAULT_BASE_URL = "https://chatgpt.com/backend-api/codex"

/** The Codex CLI's originator, which the backend expects. */
export const DEFAULT_ORIGINATOR = "codex_cli_rs"

/** The Codex CLI version Nexus speaks as (`client_version` on `/models`; the bundled catalog's). */
export const CLIENT_VERSION = "0.169.0"

/** The headers that carry the sign-in: the bearer, the account and the originator. */
export const authHeaders = (token: Redacted.Redacted<string>, accountId: string, originator: string) => ({
  authorization: `Bearer ${Redacted.value(token)}`,
  "chatgpt-account-id": accountId,
  originator
})

/**
 * Sends with `account`'s current token; an answer of 401 is dropped (`discard`) and sent once
 * more with the token Credentials recovers (refreshed, or a newer one another instance stored).
 * A second 401 is the caller's to report.
 */
export const authorized = <A extends { readonly status: number }, E, R>(
  credentials: Credentials.Credentials["Service"],
  account: string,
  send: (token: Redacted.Redacted<string>, tokens: TokenSet.TokenSet) => Effect.Effect<A, E, R>,
  discard: (answer: A) => void = () => {}
): Effect.Effect<{ readonly answer: A; readonly tokens: TokenSet.TokenSet }, E | Credentials.CredentialsError, R> =>
  Effect.flatMap(credentials.tokens(account), (tokens) =>
    Effect.flatMap(send(tokens.accessToken, tokens), (answer) => {
      if (answer.status !== 401) return Effect.succeed({ answer, tokens })
      discard(answer)
      return credentials.recoverUnauthorized(account, tokens.accessToken).pipe(
        Effect.flatMap((recovered) => send(recovered, tokens)),
        Effect.map((retried) => ({ answer: retried, tokens }))
      )
    })
  )

/** The first line of what went wrong (see `Errors.firstLine`). */
export { firstLine } from "../Errors.ts"
