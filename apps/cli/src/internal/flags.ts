// The flags several commands share.
import { Config } from "effect"
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

/** A flag read from `env` when not given, else `fallback`; the help says both. */
export const setting = <A>(
  flag: Flag.Flag<A>,
  env: string,
  config: (name: string) => Config.Config<A>,
  fallback: A,
  description: string
) =>
  flag.pipe(
    Flag.withDescription(`${description} (env ${env}; default ${String(fallback)})`),
    Flag.withFallbackConfig(config(env)),
    Flag.withDefault(fallback)
  )

/** An integer setting's config. */
export const integer = (name: string) => Config.Int(name)

/** A number setting's config. */
export const number = (name: string) => Config.Number(name)
