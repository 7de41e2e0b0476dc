/**
 * Encryption at rest for tokens: AES-256-GCM (node:crypto) under `NEXUS_TOKEN_KEY`. Every
 * ciphertext records the id of its key, so keys can be rotated and a wrong key fails clearly.
 *
 * @since 0.1.0
 */
import { Embedded } from "@nexus/database"
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"

/**
 * A ciphertext could not be decrypted: written under another key, or damaged.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecryptionFailed extends Schema.TaggedError<DecryptionFailed>()("DecryptionFailed", {
  keyId: Schema.String,
  reason: Schema.Literals(["unknown_key", "corrupt"])
}) {
  override get message() {
    return this.reason === "unknown_key"
      ? `A stored token was encrypted under key ${this.keyId}, which this instance does not have: give every instance of the fleet the same NEXUS_TOKEN_KEY (and the previous one in NEXUS_TOKEN_KEY_PREVIOUS while rotating).`
      : `A stored token encrypted under key ${this.keyId} is damaged or was written under another key with the same id; sign in again with \`nexus login\`.`
  }
}

/**
 * The encryption key could not be read or created.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyUnavailable extends Schema.TaggedError<KeyUnavailable>()("KeyUnavailable", {
  detail: Schema.String
}) {
  override get message() {
    return `No usable token encryption key: ${this.detail}. Set NEXUS_TOKEN_KEY to 32 random bytes (base64 or hex), e.g. \`openssl rand -base64 32\`.`
  }
}

interface Key {
  readonly id: string
  readonly bytes: Buffer
}

const keyId = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex").slice(0, 8)

/** A 32-byte key from base64, base64url or hex text. */
const parseKey = (text: string): Key | undefined => {
  const trimmed = text.trim()
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64")
  return bytes.length === 32 ? { id: keyId(bytes), bytes } : undefined
}

const VERSION = "v1"

/**
 * Encrypts and decrypts token strings.
 *
 * @since 0.1.0
 * @category services
 */
export class Crypto extends Context.Service<
  Crypto,
  {
    /** The id of the key new ciphertexts are written under. */
    readonly keyId: string
    /**
     * `v1.<key id>.<iv>.<ciphertext+tag>`, base64url. `context` (e.g. `chatgpt/<account>/refresh_token`)
     * is authenticated with it: a ciphertext moved to another row or column no longer decrypts.
     */
    readonly encrypt: (plaintext: Redacted.Redacted<string>, context: string) => string
    readonly decrypt: (
      ciphertext: string,
      context: string
    ) => Effect.Effect<Redacted.Redacted<string>, DecryptionFailed>
    /** Whether a ciphertext was written under an older key (and so should be re-encrypted). */
    readonly isStale: (ciphertext: string) => boolean
    /** Whether this instance holds the key of that id (current or previous). */
    readonly knows: (keyId: string) => boolean
    /** Where the current key came from, for messages (`NEXUS_TOKEN_KEY`, a generated key file…). */
    readonly origin: string
  }
>()("@nexus/token-store/Crypto") {
  /**
   * A Crypto over given keys: the first encrypts, all decrypt.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly make = (
    current: Key,
    previous: ReadonlyArray<Key> = [],
    origin = "a key given to this instance"
  ): Crypto["Service"] => {
    const keys = new Map([current, ...previous].map((key) => [key.id, key.bytes]))
    return Crypto.of({
      keyId: current.id,
      origin,
      knows: (id) => keys.has(id),
      encrypt: (plaintext, context) => {
        const iv = randomBytes(12)
        const cipher = createCipheriv("aes-256-gcm", current.bytes, iv)
        cipher.setAAD(Buffer.from(`${VERSION}.${current.id}.${context}`))
        const body = Buffer.concat([
          cipher.update(Redacted.value(plaintext), "utf8"),
          cipher.final(),
          cipher.getAuthTag()
        ])
        return `${VERSION}.${current.id}.${iv.toString("base64url")}.${body.toString("base64url")}`
      },
      decrypt: (ciphertext, context) =>
        Effect.suspend(() => {
          const [version, id = "?", iv, body] = ciphertext.split(".")
          const key = keys.get(id)
          if (!key) return Effect.fail(new DecryptionFailed({ keyId: id, reason: "unknown_key" }))
          if (version !== VERSION || !iv || !body)
            return Effect.fail(new DecryptionFailed({ keyId: id, reason: "corrupt" }))
          return Effect.try({
            try: () => {
              const bytes = Buffer.from(body, "base64url")
              const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"))
              decipher.setAAD(Buffer.from(`${VERSION}.${id}.${context}`))
              decipher.setAuthTag(bytes.subarray(bytes.length - 16))
              const plain = Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()])
              return Redacted.make(plain.toString("utf8"))
            },
            catch: () => new DecryptionFailed({ keyId: id, reason: "corrupt" })
          })
        }),
      isStale: (ciphertext) => ciphertext.split(".")[1] !== current.id
    })
  }

  /**
   * Keys from the environment: `NEXUS_TOKEN_KEY` (and `NEXUS_TOKEN_KEY_PREVIOUS`, comma-separated,
   * while rotating). Without `NEXUS_TOKEN_KEY`, a key is generated once into
   * `$NEXUS_DATA_DIR/token.key` (mode 0600) and a warning says that a fleet must share it.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerConfig: Layer.Layer<Crypto, KeyUnavailable | Config.ConfigError> = Layer.effect(Crypto)(
    Effect.gen(function* () {
      const given = yield* Config.option(Config.Redacted("NEXUS_TOKEN_KEY"))
      const previousText = yield* Config.String("NEXUS_TOKEN_KEY_PREVIOUS").pipe(Config.withDefault(""))
      const dataDir = yield* Embedded.dataDir
      const previous: Array<Key> = []
      for (const text of previousText.split(",").filter((t) => t.trim().length > 0)) {
        const key = parseKey(text)
        if (!key)
          return yield* new KeyUnavailable({ detail: "NEXUS_TOKEN_KEY_PREVIOUS holds a value that is not 32 bytes" })
        previous.push(key)
      }
      if (Option.isSome(given)) {
        const key = parseKey(Redacted.value(given.value))
        if (!key) return yield* new KeyUnavailable({ detail: "NEXUS_TOKEN_KEY is not 32 bytes of base64 or hex" })
        return Crypto.make(key, previous, "from NEXUS_TOKEN_KEY")
      }
      const path = join(dataDir, "token.key")
      const key = yield* generatedKey(path)
      return Crypto.make(key, previous, `generated into ${path}, as NEXUS_TOKEN_KEY is not set`)
    })
  )

  /**
   * A Crypto with a fresh random key, for tests.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerRandom: Layer.Layer<Crypto> = Layer.sync(Crypto)(() => {
    const bytes = randomBytes(32)
    return Crypto.make({ id: keyId(bytes), bytes })
  })

  /**
   * A Crypto from key text (base64 or hex), as `NEXUS_TOKEN_KEY` holds it.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerFromKey = (
    text: string,
    previous: ReadonlyArray<string> = []
  ): Layer.Layer<Crypto, KeyUnavailable> =>
    Layer.effect(Crypto)(
      Effect.gen(function* () {
        const keys = [text, ...previous].map(parseKey)
        if (keys.some((key) => key === undefined))
          return yield* new KeyUnavailable({ detail: "a key is not 32 bytes of base64 or hex" })
        return Crypto.make(keys[0]!, keys.slice(1) as Array<Key>)
      })
    )
}

const generatedKey = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      try {
        const existing = parseKey(await readFile(path, "utf8"))
        if (existing) return { key: existing, created: false }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
      }
      const bytes = randomBytes(32)
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      // "wx": two processes starting together must not both create (and so differ in) the key.
      try {
        await writeFile(path, `${bytes.toString("base64")}\n`, { mode: 0o600, flag: "wx" })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
        const raced = parseKey(await readFile(path, "utf8"))
        if (raced) return { key: raced, created: false }
        throw error
      }
      await chmod(path, 0o600)
      return { key: { id: keyId(bytes), bytes }, created: true }
    },
    catch: (error) => new KeyUnavailable({ detail: `${path}: ${(error as Error).message}` })
  }).pipe(
    Effect.tap(({ created }) =>
      created
        ? Effect.logWarning(
            `Generated a token encryption key in ${path} (mode 0600). Every instance of a fleet must use the same key: copy it to NEXUS_TOKEN_KEY on every machine.`
          )
        : Effect.void
    ),
    Effect.map(({ key }) => key)
  )
