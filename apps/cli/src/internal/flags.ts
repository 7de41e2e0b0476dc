// The flags several commands share.
import { Flag } from "effect/cli"

/** `--account ID_OR_LABEL`: which signed-in account (needed when there are several). */
export const account = Flag.String("account").pipe(
  Flag.withDescription("The account id or label (needed when several accounts are signed in)"),
  Flag.optional
)

/** `--json`: machine-readable output; `what` says what is printed. */
export const json = (what: string) =>
  Flag.Boolean("json").pipe(
    Flag.withDescription(`Print ${what} as JSON`),
    Flag.withDefault(false),
    Flag.withoutNegation
  )
