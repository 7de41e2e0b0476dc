// `nexus login --device` as a person at a terminal sees it: run inside tmux (a real terminal
// emulator on a pseudo-terminal), its screen read with capture-pane while it waits, the code
// approved as the person would on another device, and the end of the sign-in read off the screen.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { BIN, childEnv, nexus, tempDir, TestLive } from "./helpers.ts"
import { reset } from "./session.ts"

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

layer(TestLive, { excludeTestServices: true, timeout: 60_000 })("nexus on a terminal", (it) => {
  it.effect(
    "login --device in tmux: the code and a spinner on screen while it waits; approved elsewhere, it says who signed in",
    () =>
      Effect.gen(function* () {
        yield* reset
        const env = yield* childEnv
        const emulator = yield* Emulator.Emulator
        const [account] = yield* emulator.accounts
        const dir = tempDir("nexus-tmux-")
        const socket = join(dir, "tmux.sock")
        const tmux = (...args: ReadonlyArray<string>) =>
          execFileSync("tmux", ["-S", socket, ...args], { encoding: "utf8", env: { PATH: process.env["PATH"] } })
        // The session runs a script with the child's environment; the pane stays to show the exit code.
        const script = join(dir, "login.sh")
        writeFileSync(
          script,
          [
            ...Object.entries(env)
              .filter(([name, value]) => value !== undefined && /^[A-Z_][A-Z0-9_]*$/.test(name) && name !== "NO_COLOR")
              .map(([name, value]) => `export ${name}=${quote(value!)}`),
            "export TERM=xterm-256color",
            `${quote(process.execPath)} ${quote(BIN)} login --device --label term`,
            'echo "EXIT=$?"',
            "sleep 60"
          ].join("\n")
        )
        tmux("new-session", "-d", "-s", "nexus", "-x", "160", "-y", "40", `sh ${quote(script)}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => tmux("kill-server")))
        const screen = () => tmux("capture-pane", "-p", "-t", "nexus")
        const until = (pattern: RegExp) =>
          Effect.promise(async () => {
            for (let waited = 0; waited < 30_000; waited += 100) {
              const found = pattern.exec(screen())
              if (found !== null) return found
              await new Promise((resolve) => setTimeout(resolve, 100))
            }
            throw new Error(`never on screen: ${pattern}\n${screen()}`)
          })

        const [, code] = yield* until(/enter the code (\S+)/)
        // The spinner turns on the line below while it waits (a terminal, so it shows).
        yield* until(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Waiting for the code to be approved… \(Ctrl\+C to cancel\)/)
        yield* emulator.approveDevice(code!)
        yield* until(/EXIT=\d+/)
        const shown = screen()
        assert.include(shown, "EXIT=0")
        assert.include(shown, `Signed in as ${account!.email} (${account!.plan}), account ${account!.id}, label term`)
        // The spinner's line was cleared once the wait ended.
        assert.notInclude(shown, "Waiting for the code to be approved")
        const status = yield* nexus(["status", "--json"], env)
        assert.strictEqual(JSON.parse(status.stdout)[0].label, "term")
      }).pipe(Effect.scoped),
    60_000
  )
})
