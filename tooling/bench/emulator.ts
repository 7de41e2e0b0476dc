// Complete SSE responses per second from the Codex emulator (token checked, usage counted) at 64
// concurrent keep-alive connections, measured side by side in one run with a bare node:http server
// that writes the same bytes. Servers run in child processes; this process is the load generator.
//   node tooling/bench/emulator.ts [--seconds 5] [--concurrency 64] [--rounds 2] [--quick] [--json FILE]
import { benchArgs } from "./args.ts"
import { makeReport } from "./report.ts"
import { startServer } from "./children.ts"
import { rmSync, writeFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"

const values = benchArgs(
  {
    seconds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "64" },
    rounds: { type: "string", default: "2" }
  },
  { seconds: "0.7", rounds: "1" }
)
const report = makeReport("emulator", values)
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const rounds = Number(values.rounds)

const call = async (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
  const response = await fetch(url, init)
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${response.status} ${await response.text()}`)
  return response
}

interface Target {
  readonly name: string
  readonly url: URL
  readonly headers: Record<string, string>
}

/** Runs `concurrency` request loops for `seconds`; every response body is read to the end. */
const load = (target: Target, body: string) =>
  new Promise<{ completed: number; failed: number; elapsed: number }>((resolve) => {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
    const deadline = performance.now() + seconds * 1000
    const began = performance.now()
    let completed = 0
    let failed = 0
    let running = concurrency
    const loop = () => {
      if (performance.now() >= deadline) {
        if (--running === 0) {
          agent.destroy()
          resolve({ completed, failed, elapsed: (performance.now() - began) / 1000 })
        }
        return
      }
      const req = request(target.url, { method: "POST", agent, headers: target.headers }, (res) => {
        let sawCompleted = false
        res.on("data", (chunk: Buffer) => {
          if (!sawCompleted && chunk.includes("response.completed")) sawCompleted = true
        })
        res.on("end", () => {
          if (res.statusCode === 200 && sawCompleted) completed++
          else failed++
          loop()
        })
      })
      req.on("error", () => {
        failed++
        loop()
      })
      req.end(body)
    }
    for (let i = 0; i < concurrency; i++) loop()
  })

const emulator = await startServer(["packages/codex-emulator/src/bin.ts", "--port", "0"])
const urls = emulator.info as { issuer: string; codexBaseUrl: string; adminUrl: string }
const account = (await (
  await call(`${urls.adminUrl}/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "bench@example.com", plan: "pro", budget: { primary: 1e12, secondary: 1e12 } })
  })
).json()) as { id: string }
const tokens = (await (await call(`${urls.adminUrl}/accounts/${account.id}/tokens`, { method: "POST" })).json()) as {
  access_token: string
}
const body = JSON.stringify({
  model: "gpt-5.5",
  instructions: "You are a helpful assistant.",
  input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "say hello to the benchmark" }] }],
  tools: [],
  tool_choice: "auto",
  parallel_tool_calls: false,
  reasoning: { effort: "low" },
  store: false,
  stream: true,
  include: ["reasoning.encrypted_content"]
})
const headers = {
  authorization: `Bearer ${tokens.access_token}`,
  "chatgpt-account-id": account.id,
  "content-type": "application/json",
  accept: "text/event-stream",
  "content-length": String(Buffer.byteLength(body))
}

// Record one real emulator reply; the bare server replays exactly these bytes.
const sample = await call(`${urls.codexBaseUrl}/responses`, { method: "POST", headers, body })
const text = await sample.text()
const recorded = {
  headers: Object.fromEntries(
    [...sample.headers].filter(([name]) => name.startsWith("x-") || name === "content-type" || name === "cache-control")
  ),
  events: text.split(/(?<=\n\n)/)
}
const recording = join(tmpdir(), `nexus-bench-reply-${process.pid}.json`)
writeFileSync(recording, JSON.stringify(recorded))
const bare = await startServer(["tooling/bench/bare-server.ts", recording]).finally(() =>
  // The bare server read the recording before it printed its URL: nothing is left in the temp dir.
  rmSync(recording, { force: true })
)

const targets: Array<Target> = [
  { name: "emulator", url: new URL(`${urls.codexBaseUrl}/responses`), headers },
  { name: "bare node:http", url: new URL(`${bare.info.url}/backend-api/codex/responses`), headers }
]
console.log(
  `SSE reply: ${recorded.events.length} events, ${Buffer.byteLength(text)} bytes; ${concurrency} connections, ${seconds}s per run, ${rounds} rounds`
)
const totals = new Map<string, { completed: number; elapsed: number; failed: number }>()
for (const target of targets) await load(target, body) // warm-up, not counted
for (let round = 1; round <= rounds; round++) {
  for (const target of round % 2 === 1 ? targets : targets.toReversed()) {
    const result = await load(target, body)
    const total = totals.get(target.name) ?? { completed: 0, elapsed: 0, failed: 0 }
    totals.set(target.name, {
      completed: total.completed + result.completed,
      elapsed: total.elapsed + result.elapsed,
      failed: total.failed + result.failed
    })
    console.log(
      `round ${round} ${target.name.padEnd(15)} ${(result.completed / result.elapsed).toFixed(0).padStart(7)} responses/s  (${result.failed} failed)`
    )
  }
}
const rate = (name: string) => {
  const t = totals.get(name)!
  return t.completed / t.elapsed
}
const emulatorRate = rate("emulator")
const bareRate = rate("bare node:http")
console.log(
  `emulator: ${emulatorRate.toFixed(0)} responses/s; bare node:http: ${bareRate.toFixed(0)} responses/s; ratio ${(emulatorRate / bareRate).toFixed(2)}x`
)
console.log(
  `targets: >= 8000 responses/s ${emulatorRate >= 8000 ? "met" : "NOT met"}; >= 0.4x bare ${emulatorRate / bareRate >= 0.4 ? "met" : "NOT met"}`
)
report.ratio(
  `emulator: SSE responses/s at ${concurrency} connections`,
  "responses/s",
  emulatorRate,
  { name: "bare node:http", value: bareRate },
  { text: "≥ 0.4× bare", min: 0.4 }
)
report.write()
emulator.child.kill("SIGTERM")
bare.child.kill("SIGTERM")
