// A bench's options. `./dev bench:x -- --seconds 2` reaches the script as `-- --seconds 2` (pnpm
// passes the `--` through), and `parseArgs` would take everything after it as positionals: the
// `--` is dropped first. An unknown option or a stray positional is an error, as it should be.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util"

export const benchArgs = <const Options extends ParseArgsOptionsConfig>(options: Options) =>
  parseArgs({ args: process.argv.slice(2).filter((arg) => arg !== "--"), options, strict: true }).values
