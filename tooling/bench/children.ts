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

/**
 * A fresh Pro account on the emulator at `adminUrl`, with room for any bench, and its tokens as
 * `nexus login --from-env` reads them.
 */
export const emulatorAccount = async (adminUrl: string, email: string) => {
  const post = async (url: string, body?: unknown) => {
    const response = await fetch(url, {
      method: "POST",
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    })
    if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`)
    return response.json() as Promise<unknown>
  }
  const account = (await post(`${adminUrl}/accounts`, {
    email,
    plan: "pro",
    budget: { primary: 1e12, secondary: 1e12 }
  })) as { readonly id: string }
  const tokens = (await post(`${adminUrl}/accounts/${account.id}/tokens`)) as {
    readonly access_token: string
    readonly refresh_token: string
  }
  const { exp } = JSON.parse(Buffer.from(tokens.access_token.split(".")[1]!, "base64url").toString("utf8")) as {
    readonly exp: number
  }
  return {
    id: account.id,
    loginEnv: {
      CODEX_ACCESS_TOKEN: tokens.access_token,
      CODEX_REFRESH_TOKEN: tokens.refresh_token,
      CODEX_EXPIRES_AT: String(exp),
      CODEX_ACCOUNT_ID: account.id
    }
  }
}
