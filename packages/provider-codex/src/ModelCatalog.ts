/**
 * The model catalog (protocol §9): the backend's `/models` list, fetched with ETag caching and kept
 * in `nexus.models`, the bundled 0.169.0 list when the backend has none to give, and aliases that
 * keep older model names working. An unknown model fails here, before any request is sent.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Database, type Errors as DatabaseErrors, Migrations as DatabaseMigrations } from "@nexus/database"
import { Credentials } from "@nexus/token-store"
import { Context, Effect, Fiber, Layer, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { SqlClient, SqlSchema } from "effect/sql"
import * as Backend from "./internal/backend.ts"
import { BUNDLED_MODELS } from "./internal/bundledModels.ts"
import * as Migrations from "./Migrations.ts"

/**
 * One reasoning effort a model accepts.
 *
 * @since 0.1.0
 * @category models
 */
export const ReasoningLevel = Schema.Struct({
  effort: Schema.String,
  description: Schema.optional(Schema.String)
})

/**
 * A service tier a model offers (`service_tiers`), such as `{id: "priority", name: "Fast"}`.
 *
 * @since 0.1.0
 * @category models
 */
export const ServiceTier = Schema.Struct({
  id: Schema.String,
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String)
})

/**
 * A model as the backend describes it (the fields Nexus reads; others are ignored).
 *
 * @since 0.1.0
 * @category models
 */
export const ModelInfo = Schema.Struct({
  slug: Schema.String,
  display_name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  context_window: Schema.optional(Schema.Finite),
  max_context_window: Schema.optional(Schema.Finite),
  default_reasoning_level: Schema.optional(Schema.String),
  supported_reasoning_levels: Schema.optional(Schema.Array(ReasoningLevel)),
  use_responses_lite: Schema.optional(Schema.Boolean),
  prefer_websockets: Schema.optional(Schema.Boolean),
  /** e.g. `code_mode_only` for responses-lite models, null for classic ones. */
  tool_mode: Schema.optional(Schema.NullOr(Schema.String)),
  minimal_client_version: Schema.optional(Schema.String),
  available_in_plans: Schema.optional(Schema.Array(Schema.String)),
  /** Objects on the backend; bare ids in rows that older Nexus versions stored. */
  service_tiers: Schema.optional(Schema.Array(Schema.Union([ServiceTier, Schema.String]))),
  visibility: Schema.optional(Schema.String),
  priority: Schema.optional(Schema.Finite)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ModelInfo = typeof ModelInfo.Type

const ModelsReply = Schema.Struct({ models: Schema.Array(ModelInfo) })
const decodeReply = HttpClientResponse.schemaBodyJson(ModelsReply)
/**
 * The requested model is neither a known slug nor an alias of one.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownModel extends Schema.TaggedError<UnknownModel>()("UnknownModel", {
  model: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message() {
    return `Unknown model "${this.model}": use one of ${this.available.join(", ")}.`
  }
}

/**
 * The catalog's table could not be prepared (its migrations failed) when the layer started.
 *
 * @since 0.1.0
 * @category errors
 */
export class CatalogUnavailable extends Schema.TaggedError<CatalogUnavailable>()("CatalogUnavailable", {
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The model catalog could not read nexus.models: ${this.detail}. Check that PostgreSQL is reachable (DATABASE_URL).`
  }
}

/**
 * The seed's model names and the current models they stand for.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultAliases: Readonly<Record<string, string>> = {
  "gpt-5-codex": "gpt-5.5",
  "gpt-4o": "gpt-5.5",
  o1: "gpt-5.5",
  "o3-mini": "gpt-5.5"
}

/**
 * The catalog bundled with the Codex CLI Nexus speaks as (0.169.0): what serves until the backend's
 * `/models` has answered once, and what offline tools (`nexus route check`) resolve against.
 *
 * @since 0.1.0
 * @category models
 */
export const bundled: ReadonlyArray<ModelInfo> = BUNDLED_MODELS

/**
 * Catalog settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly baseUrl?: string
  /** Sent as `client_version`; the backend shapes the catalog for it (protocol §9). */
  readonly clientVersion?: string
  readonly originator?: string
  /** Merged over `defaultAliases`; an alias maps a requested name to a catalog slug. */
  readonly aliases?: Readonly<Record<string, string>>
}

/** A row of `nexus.models`: `info` is the model as the backend (or the bundle) described it. */
const Row = Schema.Struct({
  slug: Schema.String,
  source: Schema.Literals(["upstream", "bundled", "config"]),
  etag: Schema.NullOr(Schema.String),
  info: ModelInfo
})

type Fetched =
  | { readonly _tag: "Fresh"; readonly models: ReadonlyArray<ModelInfo>; readonly etag: string | undefined }
  | { readonly _tag: "NotModified" }
  | { readonly _tag: "NoCatalog" }
  | { readonly _tag: "Failed"; readonly detail: string }

/**
 * The model catalog.
 *
 * @since 0.1.0
 * @category services
 */
export class ModelCatalog extends Context.Service<
  ModelCatalog,
  {
    /**
     * The catalog for `account`: refetched with the stored ETag (200 replaces `nexus.models`,
     * 304 keeps it); when the backend fails or has no catalog (404), the stored rows, else the
     * bundled list. Never fails: a catalog is always at hand.
     */
    readonly models: (account: string) => Effect.Effect<ReadonlyArray<ModelInfo>>
    /** The stored catalog (or the bundled one) without asking the backend. */
    readonly cached: Effect.Effect<ReadonlyArray<ModelInfo>>
    /**
     * The model behind `model`, aliases applied first; with `account` the catalog is refreshed
     * first, without it the stored one is used.
     */
    readonly resolve: (model: string, account?: string) => Effect.Effect<ModelInfo, UnknownModel>
    /** The aliases `resolve` applies (the defaults, then the configured ones): name → slug. */
    readonly aliases: Readonly<Record<string, string>>
  }
>()("@nexus/provider-codex/ModelCatalog") {
  /**
   * The catalog over Credentials, an HttpClient and Postgres; checks when it starts that `nexus db
   * migrate` has created its table.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = (
    options: Options = {}
  ): Layer.Layer<
    ModelCatalog,
    CatalogUnavailable | DatabaseErrors.SchemaNotReady,
    Credentials.Credentials | HttpClient.HttpClient | PgClient.PgClient
  > => Layer.effect(ModelCatalog)(make(options))
}

const make = Effect.fnUntraced(function* (options: Options) {
  const baseUrl = options.baseUrl ?? Backend.DEFAULT_BASE_URL
  const clientVersion = options.clientVersion ?? Backend.CLIENT_VERSION
  const originator = options.originator ?? Backend.DEFAULT_ORIGINATOR
  const aliases: Readonly<Record<string, string>> = { ...defaultAliases, ...options.aliases }
  const credentials = yield* Credentials.Credentials
  const http = yield* HttpClient.HttpClient
  const sql = yield* PgClient.PgClient
  yield* DatabaseMigrations.check(Migrations.migrations).pipe(
    Effect.provideService(SqlClient.SqlClient, sql),
    Effect.catchTag("SqlError", (error) =>
      Effect.fail(new CatalogUnavailable({ detail: Database.describe(error), cause: error }))
    )
  )

  /** The stored rows, in the backend's order; a database failure reads as an empty table. */
  const selectAll = SqlSchema.findAll({
    Request: Schema.Void,
    Result: Row,
    execute: () => sql`SELECT slug, source, etag, info FROM nexus.models
      ORDER BY (info->>'priority')::double precision NULLS LAST, slug`
  })
  const stored = selectAll(undefined).pipe(
    Effect.map((rows) => ({
      models: rows.map((row) => row.info),
      etag: rows.find((row) => row.source === "upstream")?.etag ?? undefined,
      readable: true
    })),
    Effect.catch((error) =>
      Effect.as(Effect.logWarning("nexus.models could not be read", { detail: Database.describe(error) }), {
        models: [] as ReadonlyArray<ModelInfo>,
        etag: undefined,
        readable: false
      })
    )
  )

  /** Replaces the rows the backend or the bundle wrote; `config` rows stay and win. */
  const persist = (models: ReadonlyArray<ModelInfo>, source: "upstream" | "bundled", etag: string | undefined) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql`DELETE FROM nexus.models WHERE source <> 'config'`
          for (const model of models) {
            yield* sql`INSERT INTO nexus.models
                (slug, context_window, reasoning_levels, default_reasoning_level, plans, source, etag, info)
              VALUES (${model.slug}, ${model.context_window ?? null},
                ${(model.supported_reasoning_levels ?? []).map((level) => level.effort)}::text[],
                ${model.default_reasoning_level ?? null}, ${model.available_in_plans ?? []}::text[],
                ${source}, ${etag ?? null}, ${sql.json(model)})
              ON CONFLICT (slug) DO NOTHING`
          }
        })
      )
      .pipe(
        Effect.catch((error) =>
          Effect.logWarning("nexus.models could not be written", { detail: Database.describe(error) })
        )
      )

  const fetchUpstream = (account: string, etag: string | undefined): Effect.Effect<Fetched> =>
    Effect.gen(function* () {
      const { answer: response } = yield* Backend.authorized(credentials, account, (token, tokens) =>
        HttpClientRequest.get(`${baseUrl}/models`).pipe(
          HttpClientRequest.setUrlParam("client_version", clientVersion),
          HttpClientRequest.setHeaders({
            ...Backend.authHeaders(token, tokens.accountId, originator),
            accept: "application/json",
            ...(etag === undefined ? {} : { "if-none-match": etag })
          }),
          http.execute
        )
      )
      if (response.status === 304) return { _tag: "NotModified" } as const
      if (response.status === 404) return { _tag: "NoCatalog" } as const
      if (response.status !== 200) return { _tag: "Failed", detail: `HTTP ${response.status}` } as const
      const reply = yield* decodeReply(response)
      return { _tag: "Fresh", models: reply.models, etag: response.headers.etag } as const
    }).pipe(Effect.catch((error) => Effect.succeed({ _tag: "Failed", detail: Backend.firstLine(error) } as const)))

  /** The catalog last read or fetched by this instance: resolving a model costs no query. */
  let memory: ReadonlyArray<ModelInfo> | undefined
  const remember = (catalog: ReadonlyArray<ModelInfo>) => {
    memory = catalog
    return catalog
  }

  /**
   * The stored catalog, else the bundled one (written down as such). When the table could not be
   * read, the bundle serves without being written (that would delete rows never seen) or
   * remembered (the next call reads the table again).
   */
  const fallback = (current: { readonly models: ReadonlyArray<ModelInfo>; readonly readable: boolean }) =>
    !current.readable
      ? Effect.succeed(BUNDLED_MODELS)
      : current.models.length > 0
        ? Effect.map(Effect.succeed(current.models), remember)
        : Effect.as(persist(BUNDLED_MODELS, "bundled", undefined), remember(BUNDLED_MODELS))

  // One load at a time, shared: the requests a worker starts with would otherwise each read the
  // table (and, on a fresh database, each write the bundled catalog) before the first is
  // remembered. The load runs on a fiber of its own, so a caller that gives up (its deadline) does
  // not end it for the others; a load that could not read the table is not kept.
  let inFlight: Fiber.Fiber<ReadonlyArray<ModelInfo>> | undefined
  const load = Effect.gen(function* () {
    if (memory !== undefined) return memory
    const fiber = inFlight ?? (inFlight = yield* Effect.forkDetach(Effect.flatMap(stored, fallback)))
    const catalog = yield* Fiber.join(fiber)
    if (inFlight === fiber) inFlight = undefined
    return catalog
  })
  const cached = Effect.suspend(() =>
    memory !== undefined ? Effect.succeed(memory) : load.pipe(Effect.withSpan("ModelCatalog.cached"))
  )

  const models = Effect.fn("ModelCatalog.models")(function* (account: string) {
    const current = yield* stored
    const fetched = yield* fetchUpstream(account, current.etag)
    switch (fetched._tag) {
      case "Fresh": {
        yield* persist(fetched.models, "upstream", fetched.etag)
        return remember(fetched.models)
      }
      case "NotModified":
        return yield* fallback(current)
      case "NoCatalog": {
        // Some deployments have no /models (protocol §9): not a failure, the bundled list stands.
        yield* Effect.logDebug("the backend has no model catalog; using the stored or bundled one")
        return yield* fallback(current)
      }
      case "Failed": {
        yield* Effect.logWarning("the model catalog could not be fetched; using the stored or bundled one", {
          account,
          detail: fetched.detail
        })
        return yield* fallback(current)
      }
    }
  })

  // Untraced: it runs before every request, and without an account it costs no I/O.
  const resolve = Effect.fnUntraced(function* (model: string, account?: string) {
    const catalog = account === undefined ? yield* cached : yield* models(account)
    const slug = Object.hasOwn(aliases, model) ? aliases[model]! : model
    const found = catalog.find((info) => info.slug === slug)
    if (found !== undefined) return found
    return yield* new UnknownModel({
      model,
      available: catalog.filter((info) => info.visibility !== "hide").map((info) => info.slug)
    })
  })

  return ModelCatalog.of({ models, cached, resolve, aliases })
})
