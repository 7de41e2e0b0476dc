/**
 * The gateway's API keys: created (the key shown once), listed, revoked, verified on every request,
 * and the usage of each request recorded against its key — in Postgres, so that every gateway of a
 * fleet honours the same keys and `nexus gateway usage` sums the fleet's traffic.
 *
 * A key is `nxs_` and 32 base64url characters (192 random bits); only its SHA-256 is stored. A
 * verified key is remembered for {@link VERIFIED_FOR} so that a request costs no query: a key
 * revoked elsewhere is refused by every gateway within that time (at once by the one that revoked).
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { type Errors as DatabaseErrors, Migrations as DatabaseMigrations } from "@nexus/database"
import {
  Array as Arr,
  Clock,
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Redacted,
  Schedule,
  Schema,
  Semaphore
} from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import * as Migrations from "./Migrations.ts"

/**
 * How long a verified key is trusted without asking the database again.
 *
 * @since 0.1.0
 * @category constants
 */
export const VERIFIED_FOR = Duration.seconds(5)

/**
 * A key as `nexus gateway keys list` shows it: never the key itself.
 *
 * @since 0.1.0
 * @category models
 */
export const KeyInfo = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  /** The key's first characters, to recognise it by (`nxs_AbCd…`). */
  prefix: Schema.String,
  createdAt: Schema.Date,
  revokedAt: Schema.NullOr(Schema.Date),
  lastUsedAt: Schema.NullOr(Schema.Date)
})

/**
 * @since 0.1.0
 * @category models
 */
export type KeyInfo = typeof KeyInfo.Type

/**
 * One request as it is recorded against its key.
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageRecord {
  readonly keyId: string
  readonly endpoint: string
  readonly status: number
  readonly model?: string | undefined
  readonly accountId?: string | undefined
  readonly inputTokens?: number | undefined
  readonly cachedTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
}

/**
 * The usage of one key on one model and account.
 *
 * @since 0.1.0
 * @category models
 */
export const UsageRow = Schema.Struct({
  key: Schema.String,
  model: Schema.NullOr(Schema.String),
  account: Schema.NullOr(Schema.String),
  requests: Schema.Finite,
  errors: Schema.Finite,
  inputTokens: Schema.Finite,
  cachedTokens: Schema.Finite,
  outputTokens: Schema.Finite,
  reasoningTokens: Schema.Finite,
  lastAt: Schema.Date
})

/**
 * @since 0.1.0
 * @category models
 */
export type UsageRow = typeof UsageRow.Type

/**
 * The key is missing, unknown or revoked.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidApiKey extends Schema.TaggedError<InvalidApiKey>()("InvalidApiKey", {
  reason: Schema.Literals(["missing", "unknown", "revoked"]),
  /** The first characters of the key given, never more. */
  prefix: Schema.optional(Schema.String)
}) {
  override get message() {
    switch (this.reason) {
      case "missing":
        return "No API key was given: send `Authorization: Bearer <key>`; `nexus gateway keys create NAME` makes one."
      case "unknown":
        return `The API key ${this.prefix === undefined ? "given" : `${this.prefix}…`} is not a key of this gateway: check it, or make one with \`nexus gateway keys create NAME\`.`
      case "revoked":
        return `The API key ${this.prefix ?? ""}… was revoked: make a new one with \`nexus gateway keys create NAME\`.`
    }
  }
}

/**
 * No live key has this name or id.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyNotFound extends Schema.TaggedError<KeyNotFound>()("KeyNotFound", { key: Schema.String }) {
  override get message() {
    return `No API key is named or numbered "${this.key}" (or it is already revoked): \`nexus gateway keys list\` shows them.`
  }
}

/**
 * A live key already has this name.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyNameTaken extends Schema.TaggedError<KeyNameTaken>()("KeyNameTaken", { name: Schema.String }) {
  override get message() {
    return `An API key named "${this.name}" already exists: choose another name, or revoke it first (\`nexus gateway keys revoke ${this.name}\`).`
  }
}

/**
 * The database could not be asked (down, unreachable, refused).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeysUnavailable extends Schema.TaggedError<KeysUnavailable>()("KeysUnavailable", {
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The gateway's keys could not be read or written (${this.detail}): check that PostgreSQL is reachable (DATABASE_URL).`
  }
}

const unavailable = (error: SqlError.SqlError) => new KeysUnavailable({ detail: error.message, cause: error })

/**
 * @since 0.1.0
 * @category services
 */
export class ApiKeys extends Context.Service<
  ApiKeys,
  {
    /** A new key named `name`: the key is in the result only, never stored or shown again. */
    readonly create: (
      name: string
    ) => Effect.Effect<
      { readonly info: KeyInfo; readonly key: Redacted.Redacted<string> },
      KeyNameTaken | KeysUnavailable
    >
    /** Every key, revoked ones included, newest first. */
    readonly list: Effect.Effect<ReadonlyArray<KeyInfo>, KeysUnavailable>
    /** Revokes the live key with this name or id. */
    readonly revoke: (nameOrId: string) => Effect.Effect<KeyInfo, KeyNotFound | KeysUnavailable>
    /** The live key `key` is, or why it is refused. */
    readonly verify: (
      key: Redacted.Redacted<string> | undefined
    ) => Effect.Effect<KeyInfo, InvalidApiKey | KeysUnavailable>
    /** Records a request's usage: queued and written in batches; never fails, never waits. */
    readonly record: (usage: UsageRecord) => Effect.Effect<void>
    /** Writes what `record` queued so far. */
    readonly flush: Effect.Effect<void>
    /** Usage per key, model and account since `since` (all time when absent). */
    readonly usage: (since?: Date) => Effect.Effect<ReadonlyArray<UsageRow>, KeysUnavailable>
  }
>()("@nexus/gateway/ApiKeys") {
  /**
   * The keys in Postgres; checks that `nexus db migrate` created the tables, and writes the queued
   * usage before it closes.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<ApiKeys, DatabaseErrors.SchemaNotReady | KeysUnavailable, PgClient.PgClient> =
    Layer.effect(ApiKeys)(
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* DatabaseMigrations.check(Migrations.migrations).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(error)))
        )
        return yield* make(sql)
      })
    )
}

/** The SHA-256 of a key's text: what the table stores and is searched by. */
const hashOf = (key: string): Buffer => createHash("sha256").update(key).digest()

const PREFIX_LENGTH = 8

const Row = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  prefix: Schema.String,
  created_at: Schema.Date,
  revoked_at: Schema.NullOr(Schema.Date),
  last_used_at: Schema.NullOr(Schema.Date)
})

const infoOf = (row: typeof Row.Type): KeyInfo => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at
})

const UsageResult = Schema.Struct({
  key: Schema.String,
  model: Schema.NullOr(Schema.String),
  account: Schema.NullOr(Schema.String),
  requests: Schema.FiniteFromString,
  errors: Schema.FiniteFromString,
  input_tokens: Schema.FiniteFromString,
  cached_tokens: Schema.FiniteFromString,
  output_tokens: Schema.FiniteFromString,
  reasoning_tokens: Schema.FiniteFromString,
  last_at: Schema.Date
})

const BATCH = 500

/** How long usage rows gather between two writes. */
const WRITE_EVERY = Duration.millis(100)

const make = Effect.fnUntraced(function* (sql: PgClient.PgClient) {
  const verified = new Map<string, { readonly info: KeyInfo; readonly until: number }>()
  const pending = yield* Queue.unbounded<UsageRecord>()

  const findByHash = SqlSchema.findOneOption({
    Request: Schema.Uint8Array,
    Result: Row,
    execute: (hash) => sql`SELECT id, name, prefix, created_at, revoked_at, last_used_at
      FROM nexus.gateway_keys WHERE key_hash = ${hash}`
  })

  const create = (name: string) =>
    Effect.gen(function* () {
      const key = `nxs_${randomBytes(24).toString("base64url")}`
      const rows = yield* sql`INSERT INTO nexus.gateway_keys (id, name, prefix, key_hash)
        VALUES (${randomUUID()}, ${name}, ${key.slice(0, PREFIX_LENGTH)}, ${hashOf(key)})
        ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
        RETURNING id, name, prefix, created_at, revoked_at, last_used_at`.pipe(Effect.mapError(unavailable))
      if (rows.length === 0) return yield* new KeyNameTaken({ name })
      const info = infoOf(yield* Schema.decodeUnknownEffect(Row)(rows[0]).pipe(Effect.orDie))
      return { info, key: Redacted.make(key) }
    })

  const list = SqlSchema.findAll({
    Request: Schema.Void,
    Result: Row,
    execute: () => sql`SELECT id, name, prefix, created_at, revoked_at, last_used_at
      FROM nexus.gateway_keys ORDER BY created_at DESC, name`
  })(undefined).pipe(
    Effect.map((rows) => rows.map(infoOf)),
    Effect.catchTags({ SqlError: (error) => Effect.fail(unavailable(error)), SchemaError: Effect.die })
  )

  const revoke = (nameOrId: string) =>
    Effect.gen(function* () {
      const byName = sql`UPDATE nexus.gateway_keys SET revoked_at = now() WHERE name = ${nameOrId} AND revoked_at IS NULL
        RETURNING id, name, prefix, created_at, revoked_at, last_used_at`
      const isId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(nameOrId)
      // An id first, when it looks like one; then the name (a name may look like an id too).
      let rows = isId
        ? yield* sql`UPDATE nexus.gateway_keys SET revoked_at = now() WHERE id = ${nameOrId} AND revoked_at IS NULL
            RETURNING id, name, prefix, created_at, revoked_at, last_used_at`.pipe(Effect.mapError(unavailable))
        : []
      if (rows.length === 0) rows = yield* byName.pipe(Effect.mapError(unavailable))
      if (rows.length === 0) return yield* new KeyNotFound({ key: nameOrId })
      const info = infoOf(yield* Schema.decodeUnknownEffect(Row)(rows[0]).pipe(Effect.orDie))
      for (const [hash, entry] of verified) if (entry.info.id === info.id) verified.delete(hash)
      return info
    })

  const verify = (given: Redacted.Redacted<string> | undefined) =>
    Effect.gen(function* () {
      if (given === undefined || Redacted.value(given).length === 0) {
        return yield* new InvalidApiKey({ reason: "missing" })
      }
      const key = Redacted.value(given)
      // Only a key of this gateway is named back (by the prefix `list` shows), never another secret.
      const prefix = key.startsWith("nxs_") ? key.slice(0, PREFIX_LENGTH) : undefined
      const now = yield* Clock.currentTimeMillis
      // Remembered by its hash: the key itself is never kept past the request.
      const hash = hashOf(key)
      const id = hash.toString("hex")
      const known = verified.get(id)
      if (known !== undefined && known.until > now) return known.info
      const row = yield* findByHash(hash).pipe(
        Effect.catchTags({ SqlError: (error) => Effect.fail(unavailable(error)), SchemaError: Effect.die })
      )
      if (Option.isNone(row)) {
        return yield* new InvalidApiKey({ reason: "unknown", ...(prefix === undefined ? {} : { prefix }) })
      }
      const info = infoOf(row.value)
      if (info.revokedAt !== null) {
        verified.delete(id)
        return yield* new InvalidApiKey({ reason: "revoked", ...(prefix === undefined ? {} : { prefix }) })
      }
      verified.set(id, { info, until: now + Duration.toMillis(VERIFIED_FOR) })
      return info
    })

  const write = (batch: ReadonlyArray<UsageRecord>) =>
    Effect.gen(function* () {
      const rows = batch.map((entry) => ({
        key_id: entry.keyId,
        endpoint: entry.endpoint,
        status: entry.status,
        model: entry.model ?? null,
        account_id: entry.accountId ?? null,
        input_tokens: entry.inputTokens ?? 0,
        cached_tokens: entry.cachedTokens ?? 0,
        output_tokens: entry.outputTokens ?? 0,
        reasoning_tokens: entry.reasoningTokens ?? 0
      }))
      if (!Arr.isArrayNonEmpty(rows)) return
      // One statement (one round trip, atomic on its own): the rows, and the keys' last use.
      yield* sql`WITH written AS (INSERT INTO nexus.gateway_usage ${sql.insert(rows)} RETURNING key_id)
        UPDATE nexus.gateway_keys SET last_used_at = now() WHERE id IN (SELECT key_id FROM written)`
    }).pipe(
      // A database that blinks loses nothing: the batch is tried again a few times.
      Effect.retry({ times: 4, schedule: Schedule.exponential("250 millis") }),
      // A lost batch of usage must not take the gateway down: said, and the requests go on.
      Effect.catch((error) =>
        Effect.logWarning("could not record the gateway's usage; these requests are not counted", {
          requests: batch.length,
          error: error.message
        })
      )
    )

  // One batch written at a time: `flush` waits for the writer's batch in hand.
  const lock = yield* Semaphore.make(1)

  const flush = lock.withPermit(
    Effect.gen(function* () {
      for (;;) {
        const batch = yield* Queue.clear(pending)
        if (batch.length === 0) return
        for (let at = 0; at < batch.length; at += BATCH) yield* write(batch.slice(at, at + BATCH))
      }
    })
  )

  // On close, the writer stops first (a batch it took is written, never dropped), then what is
  // left is written: finalizers run last-added first.
  yield* Effect.addFinalizer(() => flush)
  // One writer: it writes what is queued (at most BATCH rows at a time), then lets the next rows
  // gather for WRITE_EVERY — a write per batch, not per request, off the requests' path.
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(Queue.takeBetween(pending, 1, BATCH)), (batch) => lock.withPermit(write(batch)))
      ).pipe(Effect.andThen(Effect.sleep(WRITE_EVERY))),
      { disableYield: true }
    )
  )

  const usage = (since?: Date) =>
    SqlSchema.findAll({
      Request: Schema.Void,
      Result: UsageResult,
      execute: () => sql`
        SELECT k.name AS key, u.model, u.account_id AS account,
          count(*)::text AS requests,
          count(*) FILTER (WHERE u.status >= 400)::text AS errors,
          sum(u.input_tokens)::text AS input_tokens, sum(u.cached_tokens)::text AS cached_tokens,
          sum(u.output_tokens)::text AS output_tokens, sum(u.reasoning_tokens)::text AS reasoning_tokens,
          max(u.at) AS last_at
        FROM nexus.gateway_usage u JOIN nexus.gateway_keys k ON k.id = u.key_id
        WHERE u.at >= ${since ?? new Date(0)}
        GROUP BY k.name, u.model, u.account_id
        ORDER BY k.name, u.model NULLS LAST, u.account_id NULLS LAST`
    })(undefined).pipe(
      Effect.map((rows) =>
        rows.map((row): UsageRow => ({
          key: row.key,
          model: row.model,
          account: row.account,
          requests: row.requests,
          errors: row.errors,
          inputTokens: row.input_tokens,
          cachedTokens: row.cached_tokens,
          outputTokens: row.output_tokens,
          reasoningTokens: row.reasoning_tokens,
          lastAt: row.last_at
        }))
      ),
      Effect.catchTags({ SqlError: (error) => Effect.fail(unavailable(error)), SchemaError: Effect.die })
    )

  return ApiKeys.of({
    create,
    list,
    revoke,
    verify,
    record: (entry) => Effect.sync(() => void Queue.offerUnsafe(pending, entry)),
    flush,
    usage
  })
})
