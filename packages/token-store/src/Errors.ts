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
 * The store cannot be used: its database is unreachable or refused the statement, or a stored
 * token cannot be decrypted.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreUnavailable extends Schema.TaggedError<TokenStoreUnavailable>()("TokenStoreUnavailable", {
  store: Schema.Literals(["postgres", "file", "env"]),
  detail: Schema.String
}) {
  override get message() {
    return `The ${this.store} token store is unavailable: ${this.detail}`
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
