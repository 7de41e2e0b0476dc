/**
 * The token store's typed failures.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * No sign-in is stored for the account.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenNotFound extends Schema.TaggedError<TokenNotFound>()("TokenNotFound", {
  account: Schema.String
}) {
  override get message() {
    return this.account === "*"
      ? "No ChatGPT account is signed in: run `nexus login`."
      : `No ChatGPT account ${this.account} is signed in: run \`nexus login\` (or check the account id or label).`
  }
}

/**
 * The store cannot be used: its database is unreachable or refused the statement, a stored token
 * cannot be decrypted, a stored row is not what this version reads, or the file or environment
 * source is unusable. `reason` is the kind of failure (for Postgres, the SQL failure's:
 * `ConnectionError`, `SerializationError`, `LockTimeoutError`…; else `DecryptionFailed`,
 * `InvalidRow`, `Unreadable`, `Invalid`), `retryable` whether trying again may help, and `cause`
 * the failure itself, so that a worker can tell a serialization conflict from a lost connection.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreUnavailable extends Schema.TaggedError<TokenStoreUnavailable>()("TokenStoreUnavailable", {
  store: Schema.Literals(["postgres", "file", "env"]),
  reason: Schema.String,
  detail: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The ${this.store} token store is unavailable: ${this.detail}${hint(this)}`
  }
}

/** What to do next, when the detail does not say it already. */
const hint = (error: TokenStoreUnavailable): string => {
  if (error.store !== "postgres" || error.reason === "DecryptionFailed") return ""
  return error.reason === "ConnectionError" || error.reason === "AuthenticationError"
    ? ". Check that PostgreSQL is reachable (DATABASE_URL), then try again."
    : ". Check DATABASE_URL and the server's log, and that `nexus db migrate` succeeds, then try again."
}

/**
 * The label asked for already names another account.
 *
 * @since 0.1.0
 * @category errors
 */
export class LabelTaken extends Schema.TaggedError<LabelTaken>()("LabelTaken", {
  label: Schema.String,
  account: Schema.String
}) {
  override get message() {
    return `The label ${this.label} already names account ${this.account}: choose another --label, or run \`nexus logout --account ${this.label}\` first.`
  }
}

/**
 * A compare-and-set lost: the row changed since it was read.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  account: Schema.String,
  expected: Schema.Finite
}) {
  override get message() {
    return `The sign-in of ${this.account} changed while it was being updated (expected version ${this.expected}); read it again.`
  }
}

/**
 * The database holds sign-ins encrypted under keys this instance does not have: writing one under
 * its own key would split the fleet (the others could not read it, and it could not read theirs).
 *
 * @since 0.1.0
 * @category errors
 */
export class ForeignKeys extends Schema.TaggedError<ForeignKeys>()("ForeignKeys", {
  keyIds: Schema.Array(Schema.String),
  keyId: Schema.String,
  origin: Schema.String
}) {
  override get message() {
    const theirs = this.keyIds.join(", ")
    return `The stored sign-ins are encrypted under key ${theirs}, which this instance does not have (its key ${this.keyId} was ${this.origin}); storing a sign-in under ${this.keyId} would lock the rest of the fleet out of it. Set NEXUS_TOKEN_KEY on this machine to the key every other instance uses (key id ${this.keyIds[0]}), then try again.`
  }
}
