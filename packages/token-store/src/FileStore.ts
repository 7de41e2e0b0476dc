/**
 * The token file (`NEXUS_TOKEN_FILE`, default `~/.codex/tokens.json`): the seed format
 * (`access_token`, `refresh_token`, `expires_at` in Unix seconds, `token_type`) extended with the
 * account fields. Written atomically (temp file + rename) with mode 0600; a file that group or
 * others can read is refused with the exact `chmod` to run, as ssh does.
 *
 * @since 0.1.0
 */
import { CredentialImport, type TokenSet } from "@nexus/oauth"
import { Config, DateTime, Effect, Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { constants } from "node:fs"
import { chmod, mkdir, open, rename, rm } from "node:fs/promises"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { TokenNotFound, TokenStoreUnavailable } from "./Errors.ts"

/**
 * Where the token file is.
 *
 * @since 0.1.0
 * @category config
 */
export const path = Config.String("NEXUS_TOKEN_FILE").pipe(Config.withDefault(join(homedir(), ".codex", "tokens.json")))

const fail = (file: string, detail: string, cause?: unknown) =>
  new TokenStoreUnavailable({
    store: "file",
    reason: "Unreadable",
    detail: `${file}: ${detail}`,
    retryable: false,
    ...(cause === undefined ? {} : { cause })
  })

/**
 * Opens the file once, without following a symbolic link, and checks what that handle is — a
 * regular file, owned by this user, that group and others cannot read or write — before reading
 * it through the same handle; so the file checked is the file read. Refusals name the fix.
 */
const readChecked = (file: string) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
      try {
        const info = await handle.stat()
        if (!info.isFile()) return { problem: "it is not a regular file" } as const
        const uid = process.getuid?.()
        if (uid !== undefined && info.uid !== uid) {
          return { problem: `it belongs to user ${info.uid}, not to you (${uid}): tokens must be yours alone` } as const
        }
        if ((info.mode & 0o077) !== 0) {
          return {
            problem: `permissions ${(info.mode & 0o777).toString(8).padStart(4, "0")} are too open: tokens must be readable by you alone. Run: chmod 600 ${file}`
          } as const
        }
        return { text: await handle.readFile("utf8") } as const
      } finally {
        await handle.close()
      }
    },
    catch: (error) => {
      const code = (error as NodeJS.ErrnoException).code
      if (code === "ENOENT") return new TokenNotFound({ account: "*" })
      if (code === "ELOOP") {
        return fail(
          file,
          "it is a symbolic link, which a token file must not be: point NEXUS_TOKEN_FILE at the file itself"
        )
      }
      return fail(file, (error as Error).message, error)
    }
  }).pipe(
    Effect.flatMap((read) => ("problem" in read ? Effect.fail(fail(file, read.problem)) : Effect.succeed(read.text)))
  )

/** The optional `label` of a token file's text (already parsed once as tokens, so it is JSON). */
const labelOf = (text: string): string | undefined => {
  const parsed: unknown = JSON.parse(text)
  return typeof parsed === "object" && parsed !== null && "label" in parsed && typeof parsed.label === "string"
    ? parsed.label
    : undefined
}

/**
 * Reads the token file with its optional label. A missing file is TokenNotFound; a file that is
 * not yours alone, a symbolic link, or a broken file is TokenStoreUnavailable naming the file and
 * what to do.
 *
 * @since 0.1.0
 * @category reading
 */
export const readLabelled = Effect.fn("FileStore.readLabelled")(function* (file?: string) {
  const target = file ?? (yield* Effect.orDie(path))
  const text = yield* readChecked(target)
  const tokens = yield* CredentialImport.parseTokensFile(target, text).pipe(
    Effect.mapError((error) => fail(target, error.problem))
  )
  return { tokens, label: labelOf(text) }
})

/**
 * Reads the token file's sign-in (see `readLabelled`).
 *
 * @since 0.1.0
 * @category reading
 */
export const read = (file?: string) => Effect.map(readLabelled(file), ({ tokens }) => tokens)

const FileContents = Schema.Struct({
  access_token: Schema.String,
  refresh_token: Schema.String,
  expires_at: Schema.Finite,
  token_type: Schema.String,
  id_token: Schema.optional(Schema.String),
  account_id: Schema.String,
  label: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  plan_type: Schema.optional(Schema.String),
  last_refresh: Schema.String
})

/**
 * Writes the token file atomically: a temp file beside it (mode 0600, fsynced), then rename. A
 * process killed mid-write leaves the old file or the new one, never a torn one.
 *
 * @since 0.1.0
 * @category writing
 */
export const write = Effect.fn("FileStore.write")(function* (
  tokens: TokenSet.TokenSet,
  options?: { readonly label?: string | undefined; readonly file?: string | undefined }
) {
  const target = options?.file ?? (yield* Effect.orDie(path))
  const contents: typeof FileContents.Type = {
    access_token: Redacted.value(tokens.accessToken),
    refresh_token: Redacted.value(tokens.refreshToken),
    expires_at: Math.floor(DateTime.toEpochMillis(tokens.expiresAt) / 1000),
    token_type: "Bearer",
    ...(tokens.idToken ? { id_token: Redacted.value(tokens.idToken) } : {}),
    account_id: tokens.accountId,
    ...(options?.label ? { label: options.label } : {}),
    ...(tokens.email ? { email: tokens.email } : {}),
    ...(tokens.planType ? { plan_type: tokens.planType } : {}),
    last_refresh: DateTime.formatIso(tokens.lastRefresh)
  }
  const text = `${JSON.stringify(contents, null, 2)}\n`
  yield* Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(target), { recursive: true, mode: 0o700 })
      const temp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`
      try {
        const handle = await open(temp, "wx", 0o600)
        try {
          await handle.writeFile(text)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await chmod(temp, 0o600)
        await rename(temp, target)
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
    },
    catch: (error) => fail(target, `cannot write (${(error as Error).message})`, error)
  })
})

/**
 * The sign-in a token file holds, with its optional label, as Option (none when there is no file).
 *
 * @since 0.1.0
 * @category reading
 */
export const find = (file?: string) =>
  readLabelled(file).pipe(
    Effect.asSome,
    Effect.catchTag("TokenNotFound", () => Effect.succeedNone)
  )
