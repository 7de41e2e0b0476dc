// What `nexus demo` runs and shows: the agent's dozen requests, the emulator's scripted answers,
// the child processes (the `nexus` binary itself: db migrate, login --device, worker, chat), and
// the live view (redrawn on a terminal, one line per event otherwise) and the final table.
import type { Contract } from "@nexus/queue-pgmq"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"

/** One request of the demo's agent, and what it shows. */
export interface DemoRequest {
  readonly name: string
  readonly taskType: string
  readonly complexity: "simple" | "medium" | "complex"
  readonly prompt: string
  /** What it demonstrates, when more than a routed answer. */
  readonly kind: "answer" | "tool" | "fallback" | "stream" | "malformed"
  readonly tools?: ReadonlyArray<unknown>
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
}

/** The agent's requests: task types and complexities the routing policy tells apart. */
export const REQUESTS: ReadonlyArray<DemoRequest> = [
  { name: "greet", taskType: "chat", complexity: "simple", prompt: "Greet the new team member.", kind: "answer" },
  {
    name: "summary",
    taskType: "summarize",
    complexity: "simple",
    prompt: "Summarize the incident report.",
    kind: "answer"
  },
  {
    name: "classify",
    taskType: "classify",
    complexity: "simple",
    prompt: "Classify this ticket: login fails after reset.",
    kind: "answer"
  },
  {
    name: "translate",
    taskType: "translate",
    complexity: "medium",
    prompt: "Translate the release notes into French.",
    kind: "answer"
  },
  { name: "extract", taskType: "extract", complexity: "medium", prompt: "Extract the action items.", kind: "answer" },
  {
    name: "review",
    taskType: "coder",
    complexity: "medium",
    prompt: "Review this diff for race conditions.",
    kind: "answer"
  },
  {
    name: "codegen",
    taskType: "code_generation",
    complexity: "complex",
    prompt: "Write a retrying HTTP client.",
    kind: "answer"
  },
  {
    name: "design",
    taskType: "architect",
    complexity: "complex",
    prompt: "Design the queue's dead-letter policy.",
    kind: "answer"
  },
  {
    name: "weather",
    taskType: "chat",
    complexity: "simple",
    prompt: "What is the weather in Paris?",
    kind: "tool",
    tools: [weatherTool]
  },
  {
    name: "limit",
    taskType: "chat",
    complexity: "medium",
    prompt: "Draft the weekly status update.",
    kind: "fallback"
  },
  {
    name: "story",
    taskType: "chat",
    complexity: "simple",
    prompt: "Tell the story of the queue that never lost a job.",
    kind: "stream"
  },
  { name: "broken", taskType: "-", complexity: "simple", prompt: "", kind: "malformed" }
]

/** The emulator's answers to the demo's prompts (deterministic, as a recorded session would be). */
export const REPLIES = [
  { match: "Greet", text: "Welcome aboard! Ask me anything about the codebase." },
  { match: "incident report", text: "A bad deploy at 14:02 broke sign-in for 11 minutes; rolled back; no data lost." },
  { match: "Classify", text: "authentication / password-reset" },
  { match: "French", text: "Notes de version : les tâches ne se perdent plus." },
  { match: "action items", text: "1. Add alerting on 429s. 2. Rotate the token key. 3. Document the runbook." },
  { match: "race conditions", text: "The refresh path reads then writes without a lock: use compare-and-set." },
  { match: "retrying HTTP client", text: "Use exponential backoff with jitter, honour Retry-After, cap attempts." },
  { match: "dead-letter", text: "Dead-letter what cannot be parsed, with its reason; retry the rest with backoff." },
  { match: "weather in Paris", toolCall: { name: "get_weather", arguments: '{"city":"Paris"}' } },
  { match: "weekly status", text: "This week: the fleet served every request exactly once." },
  {
    match: "never lost a job",
    text: "Once upon a time a queue promised that every job would end in exactly one result. Workers came and went, some killed mid-sentence, yet every message that entered was answered once: the visibility timeout brought back what a dead worker held, and a transaction made sure no result was published twice. The agents slept well."
  }
] as const

/** The queue message of a demo request (the malformed one is sent raw instead). */
export const toMessage = (request: DemoRequest, id: string): Contract.LlmRequest => ({
  version: 1,
  id,
  task_type: request.taskType,
  complexity: request.complexity,
  messages: [{ role: "user", content: request.prompt }],
  ...(request.tools === undefined ? {} : { options: { tools: request.tools } }),
  metadata: { demo: request.name }
})

/** The malformed message: not a request at all (no id, messages not a list). */
export const MALFORMED = { version: 1, task_type: "chat", messages: "this is not a list of messages" }

/** A row of the final table. */
export interface Row {
  readonly request: DemoRequest
  state: "waiting" | "done" | "failed"
  route: string
  tokens: string
  latencyMs: number | undefined
  outcome: string
}

/** A child `nexus` process: its output so far, and its end. */
export interface Child {
  readonly process: ChildProcess
  readonly output: () => string
  readonly done: Promise<number | null>
}

/** Runs `nexus args…` (this very binary, sources or bundle) with `env`. */
export const nexusChild = (args: ReadonlyArray<string>, env: Record<string, string | undefined>): Child => {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  const done = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)))
  return { process: child, output: () => output, done }
}

/**
 * A child of the demo's scope: however the demo ends (done, failed, interrupted), the child is
 * asked to stop (SIGTERM: a worker drains) and killed 10 s later if it has not.
 */
export const scopedChild = (args: ReadonlyArray<string>, env: Record<string, string | undefined>) =>
  Effect.acquireRelease(
    Effect.sync(() => nexusChild(args, env)),
    (child) =>
      Effect.promise(async () => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return
        child.process.kill("SIGTERM")
        const timer = setTimeout(() => child.process.kill("SIGKILL"), 10_000)
        await child.done
        clearTimeout(timer)
      })
  )

/** Waits for the child's end, at most `timeoutMs`: its exit code, or a failure with its output. */
export const exited = (child: Child, timeoutMs: number) =>
  Effect.promise(() => child.done).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () =>
        Effect.fail(`no end after ${timeoutMs / 1000} s: ${child.output().trim().split("\n").slice(-3).join(" / ")}`)
    })
  )

/**
 * The environment the demo's children start from: only what a program needs to run (no database,
 * no sign-in, no key, no telemetry of the caller's reaches them).
 */
export const baseEnv = (): Record<string, string | undefined> =>
  Object.fromEntries(
    Object.entries(process.env).filter(([name]) =>
      /^(PATH|HOME|TMPDIR|TMP|TEMP|LANG|LC_[A-Z]+|TZ|TERM|USER|LOGNAME|SYSTEMROOT|NODE_COMPILE_CACHE)$/.test(name)
    )
  )

/** Waits until the child's output matches (or it ends): the match. */
export const waitForOutput = (child: Child, pattern: RegExp, timeoutMs: number) =>
  Effect.tryPromise({
    try: async () => {
      let ended = false
      void child.done.then(() => (ended = true))
      for (let waited = 0; waited < timeoutMs; waited += 25) {
        const found = pattern.exec(child.output())
        if (found !== null) return found
        if (ended) break
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      throw new Error(child.output().trim().split("\n").slice(-3).join(" / ") || "no output")
    },
    catch: (error) => (error instanceof Error ? error.message : String(error))
  })

/** Colour only on a terminal, and never with NO_COLOR set. */
export const colours = (tty: boolean) => {
  const on = tty && (process.env["NO_COLOR"] ?? "") === ""
  const paint = (code: number) => (text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text)
  return { green: paint(32), red: paint(31), yellow: paint(33), dim: paint(2), bold: paint(1) }
}

const pad = (text: string, width: number) => (text.length >= width ? text : text + " ".repeat(width - text.length))

/** The final table: request, task/complexity, route, tokens, latency, outcome. */
export const table = (rows: ReadonlyArray<Row>): string => {
  const header = ["request", "task/complexity", "route taken", "tokens", "latency", "outcome"]
  const cells = rows.map((row) => [
    row.request.name,
    `${row.request.taskType}/${row.request.complexity}`,
    row.route,
    row.tokens,
    row.latencyMs === undefined ? "-" : `${row.latencyMs} ms`,
    row.outcome
  ])
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]!.length)))
  const line = (cell: ReadonlyArray<string>) =>
    cell
      .map((text, column) => pad(text, widths[column]!))
      .join("  ")
      .trimEnd()
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...cells.map(line)].join("\n")
}

/** What the route of a result says: model@account, and the accounts skipped on the way. */
export const describeRoute = (result: Contract.LlmResult, labels: ReadonlyMap<string, string>): string => {
  const name = (account: string | null | undefined) => (account == null ? "?" : (labels.get(account) ?? account))
  const route = (result as { readonly route?: { readonly skipped?: ReadonlyArray<Record<string, unknown>> } }).route
  const skipped = (route?.skipped ?? [])
    .map((skip) => `${name(skip["account"] as string | undefined)}: ${String(skip["reason"] ?? "skipped")}`)
    .filter((text, index, all) => all.indexOf(text) === index)
  return `${result.model ?? "?"} on ${name(result.account)}${skipped.length > 0 ? ` (skipped ${skipped.join(", ")})` : ""}`
}

/** A tool call of a result, as `name(arguments)`. */
export const describeCall = (call: unknown): string => {
  const fields = (typeof call === "object" && call !== null ? call : {}) as Record<string, unknown>
  const fn = (
    typeof fields["function"] === "object" && fields["function"] !== null ? fields["function"] : fields
  ) as Record<string, unknown>
  return `${String(fn["name"] ?? "?")}(${String(fn["arguments"] ?? fn["input"] ?? "")})`
}
