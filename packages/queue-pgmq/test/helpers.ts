// A scratch database with pgmq installed by the queue migrations (the extension when the server has
// it, else Nexus's compatible install), and the Pgmq service over it.
import { TestDatabase } from "@nexus/testing"
import { Layer } from "effect"
import type { LlmRequest } from "../src/Contract.ts"
import { migrations } from "../src/Migrations.ts"
import { Pgmq } from "../src/Pgmq.ts"

export const QueueDatabase = TestDatabase.layer({ migrations: [migrations] })

export const PgmqTest = Pgmq.layerNoDeps.pipe(Layer.provideMerge(QueueDatabase))

/** A valid request asking `text` (the rest of its fields from `extra`). */
export const request = (text: string, extra: Partial<LlmRequest> = {}): LlmRequest => ({
  version: 1,
  id: crypto.randomUUID(),
  task_type: "chat",
  complexity: "simple",
  messages: [{ role: "user", content: text }],
  ...extra
})
