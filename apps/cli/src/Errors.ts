/**
 * The failures of the `nexus` commands themselves (the libraries bring their own). Every message
 * says what happened and what to do next, and none carries a token or a password.
 *
 * @since 0.1.0
 */
import { Runtime, Schema } from "effect"

/**
 * No ChatGPT account is signed in.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoAccount extends Schema.TaggedError<NoAccount>()("NoAccount", {}) {
  override get message() {
    return "No ChatGPT account signed in — run `nexus login`."
  }
}

/**
 * Several accounts are signed in and the command needs to know which one. A usage error (exit 2).
 *
 * @since 0.1.0
 * @category errors
 */
export class AmbiguousAccount extends Schema.TaggedError<AmbiguousAccount>()("AmbiguousAccount", {
  command: Schema.String,
  accounts: Schema.Array(Schema.String)
}) {
  override readonly [Runtime.errorExitCode] = 2
  override get message() {
    return `${this.accounts.length} ChatGPT accounts are signed in (${this.accounts.join(", ")}): choose one with \`nexus ${this.command} --account ID_OR_LABEL\`.`
  }
}

/**
 * `nexus status` found accounts that cannot be used as they are (exit 1, after the listing).
 *
 * @since 0.1.0
 * @category errors
 */
export class AccountsNeedAttention extends Schema.TaggedError<AccountsNeedAttention>()("AccountsNeedAttention", {
  problems: Schema.Array(Schema.String)
}) {
  override get message() {
    return `${this.problems.length} account${this.problems.length === 1 ? " needs" : "s need"} attention: ${this.problems.join("; ")}.`
  }
}

/**
 * `nexus queue dlq retry` named dead letters that are not there.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoDeadLetter extends Schema.TaggedError<NoDeadLetter>()("NoDeadLetter", {
  ids: Schema.Array(Schema.String)
}) {
  override get message() {
    return `no dead letter ${this.ids.join(", ")} in llm_requests_dlq: see \`nexus queue dlq list\` for the ids`
  }
}
