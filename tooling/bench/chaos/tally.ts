// What a scenario expects and what it got: every request id it sent must have exactly one result
// on llm_results (passing the scenario's check of its status), every malformed message it sent
// must have exactly one row on llm_requests_dlq with the expected problem, and nothing else may
// appear on either queue. The counts are read from the queues' tables (nothing is consumed), so a
// duplicate published at any time before the count is seen.
import type { Pool } from "pg"

/** A result as the contract gives it (the fields the checks read). */
export interface Result {
  readonly request_id: string
  readonly status: "ok" | "error"
  readonly account: string | null
  readonly attempts: number
  readonly error?: { readonly tag: string; readonly message: string; readonly retryable: boolean }
}

/** What a result must be: undefined when it is right, else why not. */
export type Check = (result: Result) => string | undefined

export const ok: Check = (result) =>
  result.status === "ok" ? undefined : `${result.error?.tag ?? "error"}: ${result.error?.message ?? "?"}`

export interface Expectation {
  /** Request id → the check of its one result. */
  readonly results: Map<string, Check>
  /** Message id on llm_requests → the problem its dead letter must name, and what its reason must mention. */
  readonly deadLetters: Map<string, { readonly problem: string; readonly mentions: string }>
  /** Messages put on llm_requests. */
  sent: number
}

export interface Tally {
  readonly sent: number
  /** Results for the requests sent (duplicates included). */
  readonly results: number
  /** Results beyond the first, summed over the requests. */
  readonly duplicates: number
  /** Requests sent (or malformed ones with an id) that have no result and are no longer queued. */
  readonly lost: number
  /** Results for ids never sent. */
  readonly strays: number
  /** Results that fail their check: how many, and the first few reasons. */
  readonly wrong: number
  readonly wrongSamples: ReadonlyArray<string>
  readonly deadLettered: number
  readonly expectedDeadLettered: number
  /** Dead letters missing, doubled, unexpected or with another problem than expected. */
  readonly deadLetterProblems: ReadonlyArray<string>
  /** Requests still on llm_requests (in flight or waiting). */
  readonly pending: number
  /** Results by status (`ok`, or the error's tag and whether it is retryable). */
  readonly statuses: Readonly<Record<string, number>>
  /** Results served on a later delivery (attempts > 1). */
  readonly redelivered: number
  /** Results by account. */
  readonly byAccount: Readonly<Record<string, number>>
}

const count = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1
}

/** Counts the queues against what was sent. */
export const tally = async (pool: Pool, expectation: Expectation): Promise<Tally> => {
  // One snapshot of the three queues: a request answered between two reads would otherwise be
  // neither on the queue nor among the results read, and count as lost.
  const client = await pool.connect()
  let results: Array<{ message: Result }>
  let letters: Array<{ message: { original_msg_id?: string; problem?: string; reason?: string } }>
  let queued: Array<{ id: string | null }>
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    results = (await client.query<{ message: Result }>("SELECT message FROM pgmq.q_llm_results ORDER BY msg_id")).rows
    letters = (await client.query("SELECT message FROM pgmq.q_llm_requests_dlq ORDER BY msg_id")).rows
    queued = (await client.query<{ id: string | null }>("SELECT message->>'id' AS id FROM pgmq.q_llm_requests")).rows
    await client.query("COMMIT")
  } finally {
    client.release()
  }
  const waiting = new Set(queued.map((row) => row.id))

  const seen = new Map<string, number>()
  const statuses: Record<string, number> = {}
  const byAccount: Record<string, number> = {}
  const wrongSamples: Array<string> = []
  let strays = 0
  let wrong = 0
  let redelivered = 0
  for (const { message: result } of results) {
    const check = expectation.results.get(result.request_id)
    if (check === undefined) {
      strays++
      continue
    }
    seen.set(result.request_id, (seen.get(result.request_id) ?? 0) + 1)
    count(
      statuses,
      result.status === "ok" ? "ok" : `${result.error?.tag}${result.error?.retryable ? " (retryable)" : ""}`
    )
    count(byAccount, result.account ?? "none")
    if (result.attempts > 1) redelivered++
    const problem = check(result)
    if (problem !== undefined) {
      wrong++
      if (wrongSamples.length < 3) wrongSamples.push(problem)
    }
  }
  let duplicates = 0
  for (const times of seen.values()) duplicates += times - 1
  // Unanswered and no longer on the queue: nothing will ever answer it.
  const lost = [...expectation.results.keys()].filter((id) => !seen.has(id) && !waiting.has(id)).length

  // Each expected dead letter exactly once, with its problem; nothing else.
  const deadLetterProblems: Array<string> = []
  const found = new Map<string, number>()
  for (const { message: letter } of letters) {
    const id = letter.original_msg_id ?? "?"
    found.set(id, (found.get(id) ?? 0) + 1)
    const expected = expectation.deadLetters.get(id)
    if (expected === undefined) deadLetterProblems.push(`message ${id} dead-lettered (${letter.problem}) unexpectedly`)
    else if (letter.problem !== expected.problem)
      deadLetterProblems.push(`message ${id} dead-lettered as ${letter.problem}, expected ${expected.problem}`)
    else if (!(letter.reason ?? "").includes(expected.mentions))
      deadLetterProblems.push(`message ${id}'s reason "${letter.reason}" does not mention ${expected.mentions}`)
  }
  for (const [id, { problem }] of expectation.deadLetters) {
    const times = found.get(id) ?? 0
    if (times === 0) deadLetterProblems.push(`message ${id} (${problem}) not dead-lettered`)
    if (times > 1) deadLetterProblems.push(`message ${id} dead-lettered ${times} times`)
  }

  return {
    sent: expectation.sent,
    results: results.length - strays,
    duplicates,
    lost,
    strays,
    wrong,
    wrongSamples,
    deadLettered: letters.length,
    expectedDeadLettered: expectation.deadLetters.size,
    deadLetterProblems,
    pending: queued.length,
    statuses,
    redelivered,
    byAccount
  }
}

/** Why a tally fails the exactly-once contract; empty when it passes. */
export const failures = (t: Tally): Array<string> => [
  ...(t.lost > 0 ? [`${t.lost} lost`] : []),
  ...(t.duplicates > 0 ? [`${t.duplicates} duplicates`] : []),
  ...(t.strays > 0 ? [`${t.strays} results for requests never sent`] : []),
  ...(t.wrong > 0 ? [`${t.wrong} results with the wrong status (${t.wrongSamples.join("; ")})`] : []),
  ...(t.pending > 0 ? [`${t.pending} requests still on llm_requests`] : []),
  ...t.deadLetterProblems.slice(0, 3),
  ...(t.deadLetterProblems.length > 3 ? [`${t.deadLetterProblems.length - 3} more dead-letter problems`] : [])
]

/** How far the queues are: results and dead letters in, requests still queued. */
export const progress = async (pool: Pool) => {
  const { rows } = await pool.query<{ results: string; letters: string; pending: string }>(
    `SELECT (SELECT count(*) FROM pgmq.q_llm_results) AS results,
            (SELECT count(*) FROM pgmq.q_llm_requests_dlq) AS letters,
            (SELECT count(*) FROM pgmq.q_llm_requests) AS pending`
  )
  const row = rows[0]!
  return { results: Number(row.results), letters: Number(row.letters), pending: Number(row.pending) }
}
