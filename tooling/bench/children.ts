// Starts a server in a child process and waits for the one JSON line it prints (its URLs).
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"

const root = new URL("../../", import.meta.url).pathname

/** Runs `node <args>` from the repository root; resolves with the child and its first line, parsed. */
export const startServer = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly child: ChildProcess; readonly info: Record<string, string> }>((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)))
    createInterface({ input: child.stdout! }).once("line", (line) => resolve({ child, info: JSON.parse(line) }))
  })
