/**
 * Imports a sign-in that already exists on the machine: the Codex CLI's `$CODEX_HOME/auth.json`
 * (protocol §4) and the seed format `~/.codex/tokens.json`. A bad file gets an error that names the
 * file and the problem, never a stack trace.
 *
 * @since 0.1.0
 */
import { Config, DateTime, Effect, FileSystem, Option, Redacted, Schema } from "effect"
import { homedir } from "node:os"
import { join } from "node:path"
import { CredentialsFileError, type InvalidTokenResponse } from "./Errors.ts"
import { type Claims, claimsOf, fromClaims, type TokenSet } from "./TokenSet.ts"

/**
 * The Codex CLI's auth.json (protocol §4).
 *
 * @since 0.1.0
 * @category models
 */
export const CodexAuthFile = Schema.Struct({
  auth_mode: Schema.optional(Schema.NullOr(Schema.String)),
  OPENAI_API_KEY: Schema.optional(Schema.NullOr(Schema.String)),
  tokens: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        id_token: Schema.String,
        access_token: Schema.String,
        refresh_token: Schema.String,
        account_id: Schema.optional(Schema.NullOr(Schema.String))
      })
    )
  ),
  last_refresh: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * The seed token file: `access_token`, `refresh_token`, `expires_at` (Unix seconds), `token_type`,
 * optionally extended with the account fields Nexus writes.
 *
 * @since 0.1.0
 * @category models
 */
export const SeedTokenFile = Schema.Struct({
  access_token: Schema.String,
  refresh_token: Schema.String,
  /** Unix seconds (a value in milliseconds is refused rather than read as the year 50000). */
  expires_at: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1e11 })),
  token_type: Schema.optional(Schema.String),
  id_token: Schema.optional(Schema.String),
  account_id: Schema.optional(Schema.String),
  last_refresh: Schema.optional(Schema.String)
})

const codexHome = Config.String("CODEX_HOME").pipe(Config.withDefault(join(homedir(), ".codex")))
const tokenFile = Config.String("NEXUS_TOKEN_FILE").pipe(Config.withDefault(join(homedir(), ".codex", "tokens.json")))

// V8's SyntaxError quotes the text around the error (`Unexpected token 'r', ..."en": rt_abcdefg"... is
// not valid JSON`, or all of a short file): here that text is a token, so only the reason is kept.
const syntaxProblem = (cause: unknown) =>
  (cause instanceof Error ? cause.message.replace(/,?\s*(?:\.\.\.)?".*$/s, "").trim() : "") || "parse error"

const readText = Effect.fnUntraced(function* (path: string) {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.readFileString(path).pipe(
    Effect.mapError(
      (error) =>
        new CredentialsFileError({
          path,
          problem:
            error.reason._tag === "NotFound" ? "the file does not exist" : `it cannot be read (${error.reason._tag})`
        })
    )
  )
})

const parseJson = Effect.fnUntraced(function* <S extends Schema.Top & { readonly DecodingServices: never }>(
  path: string,
  text: string,
  schema: S
) {
  const json = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => new CredentialsFileError({ path, problem: `it is not valid JSON (${syntaxProblem(cause)})` })
  })
  return yield* Schema.decodeUnknownEffect(schema)(json).pipe(
    Effect.mapError((error) => new CredentialsFileError({ path, problem: error.message.replace(/\s*\n\s*/g, " ") }))
  )
})

const readJson = <S extends Schema.Top & { readonly DecodingServices: never }>(path: string, schema: S) =>
  Effect.flatMap(readText(path), (text) => parseJson(path, text, schema))

const problem = (path: string) => (error: InvalidTokenResponse) =>
  new CredentialsFileError({ path, problem: `its ${error.field} ${error.problem}` })

const parseTime = (path: string, field: string, value: string) =>
  Option.match(DateTime.make(value), {
    onNone: () =>
      Effect.fail(
        new CredentialsFileError({ path, problem: `${field} ${JSON.stringify(value)} is not an RFC 3339 time` })
      ),
    onSome: (time) => Effect.succeed(DateTime.toUtc(time))
  })

/**
 * Imports the Codex CLI's auth.json (default `$CODEX_HOME/auth.json`, `~/.codex/auth.json`).
 * As the CLI does, it refuses ChatGPT tokens without `last_refresh`, and takes the account id from
 * `tokens.account_id`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const importCodexAuth = Effect.fn("CredentialImport.importCodexAuth")(function* (path?: string) {
  const file = path ?? join(yield* codexHome.pipe(Effect.orDie), "auth.json")
  const auth = yield* readJson(file, CodexAuthFile)
  if (auth.auth_mode === "apikey" || (!auth.auth_mode && auth.OPENAI_API_KEY && !auth.tokens)) {
    return yield* new CredentialsFileError({
      path: file,
      problem: "it holds an API key, not a ChatGPT sign-in (auth_mode apikey)"
    })
  }
  if (auth.auth_mode && auth.auth_mode !== "chatgpt") {
    return yield* new CredentialsFileError({
      path: file,
      problem: `its auth_mode ${JSON.stringify(auth.auth_mode)} is not a ChatGPT sign-in`
    })
  }
  if (!auth.tokens)
    return yield* new CredentialsFileError({ path: file, problem: "it has no tokens (sign in with ChatGPT first)" })
  if (!auth.last_refresh) {
    return yield* new CredentialsFileError({
      path: file,
      problem: "it has no last_refresh, and the Codex CLI ignores ChatGPT tokens without one; run `codex login` again"
    })
  }
  const lastRefresh = yield* parseTime(file, "last_refresh", auth.last_refresh)
  const accessToken = Redacted.make(auth.tokens.access_token, { label: "access_token" })
  const idToken = Redacted.make(auth.tokens.id_token, { label: "id_token" })
  const access = yield* claimsOf("access_token", accessToken).pipe(Effect.mapError(problem(file)))
  const id = yield* claimsOf("id_token", idToken).pipe(Effect.mapError(problem(file)))
  return yield* fromClaims({
    accessToken,
    refreshToken: Redacted.make(auth.tokens.refresh_token, { label: "refresh_token" }),
    idToken,
    access,
    id,
    accountId: auth.tokens.account_id ?? undefined,
    lastRefresh
  }).pipe(Effect.mapError(problem(file)))
})

/**
 * Imports a seed token file (default `NEXUS_TOKEN_FILE`, else `~/.codex/tokens.json`). The account id comes from the file's
 * `account_id`, else from the access token's claims.
 *
 * @since 0.1.0
 * @category constructors
 */
export const importTokensFile = Effect.fn("CredentialImport.importTokensFile")(function* (path?: string) {
  const file = path ?? (yield* tokenFile.pipe(Effect.orDie))
  return yield* parseTokensFile(file, yield* readText(file))
})

/**
 * The sign-in in a seed token file's text, already read (by a caller that checked the file it
 * read, e.g. its owner and mode on the same handle); `path` only names the file in errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseTokensFile = Effect.fn("CredentialImport.parseTokensFile")(function* (path: string, text: string) {
  const file = path
  const seed = yield* parseJson(file, text, SeedTokenFile)
  const accessToken = Redacted.make(seed.access_token, { label: "access_token" })
  const idToken = seed.id_token ? Redacted.make(seed.id_token, { label: "id_token" }) : undefined
  const access = yield* claimsOf("access_token", accessToken).pipe(Effect.orElseSucceed((): Claims => ({})))
  const id = idToken ? yield* claimsOf("id_token", idToken).pipe(Effect.mapError(problem(file))) : undefined
  if (seed.account_id === undefined && !access["https://api.openai.com/auth"]?.chatgpt_account_id && !id) {
    return yield* new CredentialsFileError({
      path: file,
      problem: "it has no account_id and its access_token carries no chatgpt_account_id claim"
    })
  }
  const lastRefresh = seed.last_refresh ? yield* parseTime(file, "last_refresh", seed.last_refresh) : undefined
  const tokens: TokenSet = yield* fromClaims({
    accessToken,
    refreshToken: Redacted.make(seed.refresh_token, { label: "refresh_token" }),
    idToken,
    access,
    id,
    accountId: seed.account_id,
    expiresAt: DateTime.makeUnsafe(seed.expires_at * 1000),
    lastRefresh
  }).pipe(Effect.mapError(problem(file)))
  return tokens
})
