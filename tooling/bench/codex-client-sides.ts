// The CodexClient sides of bench:codex-client, built from the checkout this file sits in: its own
// `effect`, provider and token-store, so that `--against <checkout>` can load a copy of this file
// inside another checkout and run both clients in one process, side by side. Only what every
// version of the client since its first release shares is used here (the stand-ins answer the
// union of the versions' service methods).
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { TokenSet } from "@nexus/oauth"
import { CodexClient, ModelCatalog, UsageWindows } from "@nexus/provider-codex"
import { Credentials } from "@nexus/token-store"
import { Context, Effect, Exit, Layer, Scope, Stream, Tracer } from "effect"
import type { Dispatcher } from "undici"

export interface Sides {
  readonly chat: () => Promise<unknown>
  /** `chat` with a tracer installed (Effect's native one): what the spans cost when collected. */
  readonly chatTraced: () => Promise<unknown>
  readonly stream: () => Promise<unknown>
  readonly close: () => Promise<void>
}

const BUNDLED: ReadonlyArray<ModelCatalog.ModelInfo> = [
  { slug: "gpt-5.5", supported_reasoning_levels: [{ effort: "low" }, { effort: "medium" }, { effort: "high" }] }
]

const chatRequest = {
  model: "gpt-5.5",
  messages: [{ role: "user" as const, content: "Explain how a token bucket rate limiter refills over time." }],
  reasoningEffort: "low" as const
}

/**
 * The client over in-memory credentials, windows and catalog (the bench measures the client's hot
 * path: request, SSE parsing, event decoding), on the given undici dispatcher.
 */
export const makeSides = async (options: {
  readonly baseUrl: string
  readonly dispatcher: Dispatcher
  readonly issued: TokenSet.TokenResponse
}): Promise<Sides> => {
  const tokens = await Effect.runPromise(TokenSet.fromTokenResponse(options.issued))
  const credentials: Credentials.Credentials["Service"] = {
    accessToken: () => Effect.succeed(tokens.accessToken),
    tokens: () => Effect.succeed(tokens),
    recoverUnauthorized: () => Effect.succeed(tokens.accessToken),
    refreshNow: () => Effect.die("not used by the bench"),
    signOut: () => Effect.die("not used by the bench")
  }
  const windows: UsageWindows.UsageWindows["Service"] = {
    record: () => Effect.void,
    get: () => Effect.succeed([]),
    list: Effect.succeed([])
  }
  const catalog: ModelCatalog.ModelCatalog["Service"] = {
    models: () => Effect.succeed(BUNDLED),
    cached: Effect.succeed(BUNDLED),
    resolve: (model) =>
      Effect.fromNullishOr(BUNDLED.find((info) => info.slug === model)).pipe(
        Effect.mapError(() => new ModelCatalog.UnknownModel({ model, available: [] }))
      ),
    aliases: {}
  }
  const layer = CodexClient.CodexClient.layerNoDeps({ baseUrl: options.baseUrl }).pipe(
    Layer.provide(Layer.succeed(NodeHttpClient.Dispatcher)(options.dispatcher as NodeHttpClient.Dispatcher["Service"])),
    Layer.provide(Layer.succeed(Credentials.Credentials)(credentials)),
    Layer.provide(Layer.succeed(UsageWindows.UsageWindows)(windows)),
    Layer.provide(Layer.succeed(ModelCatalog.ModelCatalog)(catalog))
  )
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const client = Context.get(context, CodexClient.CodexClient)
  const run = Effect.runPromiseWith(context)
  const chat = Effect.map(
    Effect.suspend(() => client.chat(chatRequest, tokens.accountId)),
    (result) => result.text
  )
  return {
    chat: () => run(chat),
    chatTraced: () => run(Effect.withTracer(chat, Tracer.nativeTracer)),
    stream: () => run(Stream.runDrain(client.stream(chatRequest, tokens.accountId))),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
