// A scratch database with pgmq installed by the queue migrations (the extension when the server has
// it, else Nexus's compatible install), and the Pgmq service over it.
import { TestDatabase } from "@nexus/testing"
import { Layer } from "effect"
import { migrations } from "../src/Migrations.ts"
import { Pgmq } from "../src/Pgmq.ts"

export const QueueDatabase = TestDatabase.layer({ migrations: [migrations] })

export const PgmqTest = Pgmq.layerNoDeps.pipe(Layer.provideMerge(QueueDatabase))
