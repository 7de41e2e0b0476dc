/**
 * Where ChatGPT sign-ins live: Postgres (encrypted at rest), shared by every instance of a fleet.
 * One row per ChatGPT account id, with a human label, a status and a version for compare-and-set.
 *
 * @since 0.1.0
 */
import type { PgClient } from "@effect/sql-pg"
import type { TokenSet } from "@nexus/oauth"
import { Context, type DateTime, Effect, type FileSystem, Layer, Option } from "effect"
import type { Errors as DatabaseErrors } from "@nexus/database"
import type { Crypto, DecryptionFailed } from "./Crypto.ts"
import type { ForeignKeys, LabelTaken, TokenNotFound, TokenStoreUnavailable, VersionConflict } from "./Errors.ts"
import * as EnvStore from "./EnvStore.ts"
import * as FileStore from "./FileStore.ts"
import { makeMemory } from "./internal/memory.ts"
import { makePg, type Status as StatusSchema } from "./internal/postgres.ts"

/**
 * Whether a sign-in can be used.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = typeof StatusSchema.Type

/**
 * A stored sign-in: the tokens plus what the store knows about them.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredTokens {
  readonly tokens: TokenSet.TokenSet
  readonly label: string | undefined
  readonly status: Status
  /** Why the status is not active (e.g. `reused`), as the failing refresh said. */
  readonly statusReason: string | undefined
  readonly version: number
  readonly updatedAt: DateTime.Utc
  /** Where the sign-in came from: `login`, or the `file` / `env` source it was copied from. */
  readonly source: string
}

export { ForeignKeys, LabelTaken, TokenNotFound, TokenStoreUnavailable, VersionConflict } from "./Errors.ts"

/**
 * A stored sign-in this instance cannot decrypt (written under a key it lacks, or damaged): what
 * the row says in the clear, and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface Unreadable {
  readonly accountId: string
  readonly label: string | undefined
  readonly email: string | undefined
  readonly planType: string | undefined
  readonly status: Status
  /** The key its tokens were written under. */
  readonly keyId: string
  readonly problem: DecryptionFailed
}

/**
 * Every stored sign-in: those this instance can read, and those it cannot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Inventory {
  readonly readable: ReadonlyArray<StoredTokens>
  readonly unreadable: ReadonlyArray<Unreadable>
}

/**
 * What a locked update decides: keep the row, replace its tokens, mark it for a new sign-in, or
 * delete it (a sign-out, after revoking the tokens the row holds now).
 *
 * @since 0.1.0
 * @category models
 */
export type LockedDecision =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Replace"; readonly tokens: TokenSet.TokenSet; readonly refreshedBy: string }
  | { readonly _tag: "Reauth"; readonly reason: string }
  | { readonly _tag: "Delete" }

/**
 * The token store.
 *
 * @since 0.1.0
 * @category services
 */
export class TokenStore extends Context.Service<
  TokenStore,
  {
    /** By ChatGPT account id or by label. */
    readonly get: (account: string) => Effect.Effect<StoredTokens, TokenNotFound | TokenStoreUnavailable>
    readonly list: Effect.Effect<ReadonlyArray<StoredTokens>, TokenStoreUnavailable>
    /** Every sign-in, the ones this instance cannot decrypt listed apart instead of failing the lot. */
    readonly inventory: Effect.Effect<Inventory, TokenStoreUnavailable>
    /**
     * Inserts or replaces a sign-in (a new sign-in makes the row active again). A label that names
     * another account fails with `LabelTaken`; rows under keys this instance lacks, with
     * `ForeignKeys` (writing under its own key would split the fleet).
     */
    readonly put: (
      tokens: TokenSet.TokenSet,
      options?: { readonly label?: string | undefined; readonly source?: string | undefined }
    ) => Effect.Effect<StoredTokens, LabelTaken | ForeignKeys | TokenStoreUnavailable>
    readonly delete: (account: string) => Effect.Effect<void, TokenNotFound | TokenStoreUnavailable>
    /** Replaces the tokens only if the row is still at `version`. */
    readonly compareAndSet: (
      account: string,
      version: number,
      tokens: TokenSet.TokenSet
    ) => Effect.Effect<StoredTokens, VersionConflict | TokenNotFound | TokenStoreUnavailable>
    /**
     * Runs `decide` while holding the account's row lock (fleet-wide: every instance that wants to
     * refresh waits here), with the row as it is now, and applies the decision in the same
     * transaction. A crashed holder releases the lock with its connection.
     */
    readonly withLock: <E>(
      account: string,
      decide: (current: StoredTokens) => Effect.Effect<LockedDecision, E>
    ) => Effect.Effect<StoredTokens, E | TokenNotFound | TokenStoreUnavailable>
  }
>()("@nexus/token-store/TokenStore") {
  /**
   * The Postgres store; checks when it starts that `nexus db migrate` has created its tables.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerPg: Layer.Layer<
    TokenStore,
    TokenStoreUnavailable | DatabaseErrors.SchemaNotReady,
    PgClient.PgClient | Crypto
  > = Layer.effect(TokenStore)(Effect.suspend(() => makePg([])))

  /**
   * The store as Nexus runs it: Postgres first, then the token file, then the environment. A
   * sign-in found only in the file or the environment is copied into Postgres on first use — once,
   * even when several processes start together — and served from Postgres from then on (the file
   * is left as it was).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    TokenStore,
    TokenStoreUnavailable | DatabaseErrors.SchemaNotReady,
    PgClient.PgClient | Crypto | FileSystem.FileSystem
  > = Layer.effect(TokenStore)(
    Effect.suspend(() =>
      makePg([
        { source: "file", find: FileStore.find() },
        {
          source: "env",
          find: Effect.map(
            EnvStore.read(),
            Option.map((tokens) => ({ tokens, label: undefined }))
          )
        }
      ])
    )
  )

  /**
   * Sign-ins in memory, for the unit and property tests of other packages (no Postgres): the same
   * contract — lookup by id or label, `LabelTaken`, versions, compare-and-set, a lock per account.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerTest: Layer.Layer<TokenStore> = Layer.sync(TokenStore)(makeMemory)
}
