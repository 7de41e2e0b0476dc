// Queue names: pgmq's rules (pgmq.md §2), checked before any SQL.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { folded, InvalidQueueName, make, MAX_LENGTH, problemOf, QueueName, tables } from "../src/QueueName.ts"

describe("QueueName", () => {
  it("accepts what pgmq accepts: hyphens, dots, spaces, upper case, unicode, up to 47 characters", () => {
    for (const name of ["llm_requests", "my-queue", "a.b", "with space", "MyQueue", "файлы", "x".repeat(MAX_LENGTH)]) {
      assert.isUndefined(problemOf(name), name)
      assert.strictEqual(make(name) as string, name)
    }
    // 47 characters that are two UTF-16 units each: PostgreSQL counts 47.
    assert.isUndefined(problemOf("😀".repeat(MAX_LENGTH)))
  })

  it("refuses $, ;, -- and ' anywhere, names over 47 characters and the empty name, saying why", () => {
    for (const name of ["a$b", "drop;", "x--y", "it's", "$", "--"]) {
      const refused = make(name)
      assert.instanceOf(refused, InvalidQueueName)
      assert.strictEqual((refused as InvalidQueueName).problem, "invalid_characters")
      assert.include((refused as InvalidQueueName).message, "$, ;, --, or '")
    }
    const long = make("x".repeat(MAX_LENGTH + 1)) as InvalidQueueName
    assert.strictEqual(long.problem, "too_long")
    assert.include(long.message, "at most 47 characters")
    assert.strictEqual((make("") as InvalidQueueName).problem, "empty")
    // A single hyphen is fine; two in a row are pgmq's comment marker.
    assert.isUndefined(problemOf("a-b-c"))
  })

  it.effect("as a Schema: decoding refuses with the same message, and names the value", () =>
    Effect.gen(function* () {
      const decode = Schema.decodeUnknownEffect(QueueName)
      assert.strictEqual(yield* decode("llm_results"), "llm_results")
      const error = yield* Effect.flip(decode("a;b"))
      assert.include(error.message, "contains invalid characters")
    })
  )

  it("names that differ only by case share their tables", () => {
    const upper = make("MyQ") as QueueName
    const lower = make("myq") as QueueName
    assert.strictEqual(folded(upper), folded(lower))
    assert.deepStrictEqual(tables(upper), { queue: "q_myq", archive: "a_myq" })
  })

  it.effect.prop(
    "any name with a forbidden sequence is refused; any other of 1 to 47 characters is accepted",
    [Schema.String, Schema.Literals(["$", ";", "--", "'", ""])],
    ([text, forbidden]) =>
      Effect.sync(() => {
        const name = `${text}${forbidden}`
        const characters = [...name].length
        const expected =
          name.length === 0
            ? "empty"
            : ["$", ";", "--", "'"].some((sequence) => name.includes(sequence))
              ? "invalid_characters"
              : characters > MAX_LENGTH
                ? "too_long"
                : undefined
        assert.strictEqual(problemOf(name), expected)
      })
  )
})
