// Keeps the examples in the READMEs compiled: a README shows a file with a marker line and the
// fenced block that follows it (oxfmt puts a blank line between the two),
//
//   <!-- example: examples/readme.ts -->
//
//   ```ts
//   …the file, verbatim…
//   ```
//
// and the package typechecks and lints that file. This checks that each marked block equals its file
// (both trimmed), and that every package under packages/ has at least one marked block. With
// --write it rewrites the blocks from the files instead. Exit 1 when anything is left to fix.
//
//   node tooling/readme-examples.ts [--write]
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const write = process.argv.includes("--write")
const marker = /^<!--\s*example:\s*(\S+)\s*-->\s*$/
const opening = /^(`{3,}|~{3,})/

interface Block {
  /** The line index of the closing fence. */
  readonly close: number
  readonly text: string
}

/** The fenced block after the marker on `lines[at]` (blank lines between), or undefined when there is none. */
const blockAfter = (lines: ReadonlyArray<string>, at: number): Block | undefined => {
  let start = at + 1
  while (start < lines.length && lines[start]!.trim() === "") start++
  const fence = opening.exec(lines[start] ?? "")?.[1]
  if (fence === undefined) return undefined
  for (let end = start + 1; end < lines.length; end++) {
    const line = lines[end]!.trim()
    if (line.startsWith(fence) && line.split("").every((char) => char === fence[0])) {
      return { close: end, text: lines.slice(start + 1, end).join("\n") }
    }
  }
  return undefined
}

/** `text` in a ```ts block, fenced with more backticks than any run inside it. */
const fenced = (text: string): Array<string> => {
  const longest = Math.max(2, ...Array.from(text.matchAll(/`+/g), (run) => run[0].length))
  const fence = "`".repeat(longest + 1)
  return [`${fence}ts`, ...text.split("\n"), fence]
}

/** The first line where `actual` and `expected` differ, for the message. */
const firstDifference = (actual: string, expected: string): string => {
  if (actual === "") return "the block is empty"
  const a = actual.split("\n")
  const b = expected.split("\n")
  for (let line = 0; line < Math.max(a.length, b.length); line++) {
    if (a[line] !== b[line]) {
      const show = (text: string | undefined) => (text === undefined ? "(nothing)" : JSON.stringify(text))
      return `line ${line + 1} of the block is ${show(a[line])}, the file has ${show(b[line])}`
    }
  }
  return "they differ only in whitespace"
}

const readmes: Array<{ readonly path: string; readonly needsMarker: boolean }> = []
for (const group of ["packages", "apps"]) {
  const dir = join(root, group)
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name, "README.md")
    if (existsSync(path)) readmes.push({ path, needsMarker: group === "packages" })
  }
}
const testing = join(root, "tooling", "testing", "README.md")
if (existsSync(testing)) readmes.push({ path: testing, needsMarker: false })

/** What is left to fix; `fixable` ones `--write` fixes. */
const problems: Array<{ readonly message: string; readonly fixable: boolean }> = []
const rewritten: Array<string> = []
let checked = 0

for (const readme of readmes) {
  const name = relative(root, readme.path)
  const lines = readFileSync(readme.path, "utf8").replace(/\r\n/g, "\n").split("\n")
  let changed = false
  let markers = 0
  for (let at = 0; at < lines.length; at++) {
    const target = marker.exec(lines[at]!)?.[1]
    if (target === undefined) continue
    markers++
    checked++
    const where = `${name}:${at + 1}: <!-- example: ${target} -->`
    const file = join(dirname(readme.path), target)
    if (!existsSync(file)) {
      problems.push({ message: `${where}: ${relative(root, file)} does not exist`, fixable: false })
      continue
    }
    const expected = readFileSync(file, "utf8").replace(/\r\n/g, "\n").trim()
    const block = blockAfter(lines, at)
    if (block !== undefined && block.text.trim() === expected) continue
    if (write) {
      // Replace the block (and the blank lines before it), or put one after the marker.
      const replaced = block === undefined ? 0 : block.close - at
      lines.splice(at + 1, replaced, "", ...fenced(expected))
      changed = true
      rewritten.push(`${where}: rewritten from ${relative(root, file)}`)
    } else {
      problems.push({
        message:
          block === undefined
            ? `${where}: no fenced block after the marker`
            : `${where}: the block differs from ${relative(root, file)} (${firstDifference(block.text.trim(), expected)})`,
        fixable: true
      })
    }
  }
  if (markers === 0 && readme.needsMarker) {
    problems.push({
      message: `${name}: no <!-- example: PATH --> marker; show a compiled example (examples/readme.ts)`,
      fixable: false
    })
  }
  if (changed) writeFileSync(readme.path, lines.join("\n"))
}

for (const line of rewritten) console.log(line)
if (problems.length > 0) {
  for (const problem of problems) console.error(problem.message)
  if (problems.some((problem) => problem.fixable))
    console.error("Run `node tooling/readme-examples.ts --write` to rewrite the blocks from the files.")
  process.exit(1)
}
console.log(`readme examples: ${checked} blocks match their files in ${readmes.length} READMEs`)
