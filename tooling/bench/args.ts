// A bench's options. `./dev bench:x -- --seconds 2` reaches the script as `-- --seconds 2` (pnpm
// passes the `--` through), and `parseArgs` would take everything after it as positionals: the
// `--` is dropped first. An unknown option or a stray positional is an error, as it should be.
// Every bench also takes `--quick` (its `quick` settings replace the defaults of the options not
// given: the whole quick run of `./dev bench` stays under a minute) and `--json FILE` (its figures,
// for `./dev bench`'s table; see report.ts).
import { parseArgs, type ParseArgsOptionsConfig } from "node:util"

const common = {
  quick: { type: "boolean", default: false },
  json: { type: "string" }
} as const satisfies ParseArgsOptionsConfig

export const benchArgs = <const Options extends ParseArgsOptionsConfig>(
  options: Options,
  quick: { readonly [K in keyof Options]?: string | boolean } = {}
) => {
  const { values, tokens } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== "--"),
    options: { ...options, ...common } as Options & typeof common,
    strict: true,
    tokens: true
  })
  if ((values as { readonly quick?: boolean }).quick === true) {
    const given = new Set(tokens.flatMap((token) => (token.kind === "option" ? [token.name] : [])))
    for (const [name, value] of Object.entries(quick)) {
      if (!given.has(name)) Object.assign(values, { [name]: value })
    }
  }
  return values
}
