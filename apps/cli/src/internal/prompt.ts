// What to ask, from an argument, stdin (`-`) or a file (`nexus chat`, `nexus queue send`).
import { Effect, Option } from "effect"
import { CliError } from "effect/cli"
import { readFile } from "node:fs/promises"

/** The text of `--file PATH`, or of stdin for `-`; a clear error when it cannot be read. */
export const readInput = (path: string, flag = "--file") =>
  path === "-"
    ? Effect.promise(async () => {
        const chunks: Array<Buffer> = []
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
        return Buffer.concat(chunks).toString("utf8")
      })
    : Effect.tryPromise({
        try: () => readFile(path, "utf8"),
        catch: (error) =>
          new CliError.ValidationError({
            message: `cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`
          })
      })

/** The prompt from the argument, stdin (`-`) or `--file`; an empty one is refused before any request. */
export const promptOf = Effect.fnUntraced(function* (message: Option.Option<string>, file: Option.Option<string>) {
  const text = Option.isSome(file) ? yield* readInput(file.value) : message.pipe(Option.getOrElse(() => ""))
  const prompt = Option.isNone(file) && text === "-" ? yield* readInput("-") : text
  if (prompt.trim().length === 0) {
    return yield* new CliError.ValidationError({
      message: `the prompt is empty (${Option.isSome(file) ? `--file ${file.value}` : text === "-" ? "stdin" : "the argument"}): say what to ask`
    })
  }
  return prompt
})
