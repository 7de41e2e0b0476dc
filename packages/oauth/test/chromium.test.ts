// The browser sign-in in a real browser: Debian's Chromium, driven by playwright-core, opens the
// authorize URL, clicks Approve (or Deny) on the emulator's interactive page, follows the redirect
// into the loopback callback server and shows its success (or error) page.
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Redacted } from "effect"
import { existsSync } from "node:fs"
import { type Browser, chromium } from "playwright-core"
import { OAuthCallbackError } from "../src/Errors.ts"
import { OAuthClient } from "../src/OAuthClient.ts"
import { claims, freePort, layer as oauthLayer } from "./helpers.ts"

const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Chromium for the test's scope; a machine without it fails the test (in CI and outside it). */
const launchChromium = Effect.gen(function* () {
  if (!existsSync(executablePath)) {
    return assert.fail(
      `Chromium is required for the real-browser sign-in test but ${executablePath} does not exist` +
        `${process.env["CI"] === "true" ? " on this CI runner" : ""}: install Debian's chromium package or set CHROMIUM_PATH.`
    )
  }
  return yield* Effect.acquireRelease(
    Effect.promise(() => chromium.launch({ executablePath, args: ARGS })),
    (browser) => Effect.promise(() => browser.close())
  )
})

interface PageOutcome {
  readonly url: string
  readonly result: string
  readonly text: string
}

/**
 * An `openBrowser` that opens the URL in a new Chromium page, clicks `button` on the emulator's
 * approval page and reports the page the callback server finally shows.
 */
const clicking =
  (browser: Browser, button: "#approve" | "#deny", outcome: Deferred.Deferred<PageOutcome, unknown>) => (url: string) =>
    Effect.tryPromise(async () => {
      const page = await browser.newPage()
      await page.goto(url)
      await page.waitForSelector(button)
      await Promise.all([page.waitForURL((next) => next.pathname !== "/oauth/authorize"), page.click(button)])
      await page.waitForSelector("#result")
      return {
        url: page.url(),
        result: (await page.textContent("#result")) ?? "",
        text: (await page.textContent("body")) ?? ""
      }
    }).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(outcome, exit)),
      Effect.asVoid
    )

const callbackPort = await freePort()

layer(
  oauthLayer({
    redirectUri: `http://localhost:${callbackPort}/auth/callback`,
    emulator: { settings: { approval: "interactive" } }
  }),
  { excludeTestServices: true }
)("browser sign-in in Chromium", (it) => {
  it.effect(
    "Approve on the sign-in page: a complete TokenSet, and Chromium shows the success page",
    () =>
      Effect.gen(function* () {
        const browser = yield* launchChromium
        const oauth = yield* OAuthClient
        const page = yield* Deferred.make<PageOutcome, unknown>()
        const tokens = yield* oauth.loginWithBrowser({
          openBrowser: clicking(browser, "#approve", page),
          onUrl: () => Effect.void
        })

        assert.strictEqual(tokens.accountId, "00000000-0000-4000-8000-00000000c0de")
        assert.strictEqual(tokens.planType, "plus")
        assert.strictEqual(tokens.email, "dev@example.com")
        assert.strictEqual(tokens.userId, "user-emulator-default")
        assert.include(tokens.scopes, "offline_access")
        assert.isDefined(tokens.idToken)
        assert.match(Redacted.value(tokens.refreshToken), /^rt_/)
        assert.strictEqual(
          tokens.expiresAt.epochMilliseconds,
          (claims(Redacted.value(tokens.accessToken))["exp"] as number) * 1000
        )
        assert.isAbove(tokens.expiresAt.epochMilliseconds, Date.now())

        const shown = yield* Deferred.await(page)
        assert.strictEqual(shown.result, "Signed in")
        assert.strictEqual(shown.url, `http://localhost:${callbackPort}/success`)
        assert.notInclude(shown.text, Redacted.value(tokens.idToken!))
      }),
    // Chromium's first start: seconds alone, over 30 s under a full CI run on two cores.
    90_000
  )

  it.effect("Deny on the sign-in page: OAuthCallbackError denied, and Chromium shows the error page", () =>
    Effect.gen(function* () {
      const browser = yield* launchChromium
      const oauth = yield* OAuthClient
      const page = yield* Deferred.make<PageOutcome, unknown>()
      const exit = yield* Effect.exit(
        oauth.loginWithBrowser({ openBrowser: clicking(browser, "#deny", page), onUrl: () => Effect.void })
      )

      assert.isTrue(Exit.isFailure(exit), "the login succeeded although the user clicked Deny")
      const error = yield* Effect.flip(exit)
      assert.instanceOf(error, OAuthCallbackError)
      assert.strictEqual(error.reason, "denied")
      assert.strictEqual(error.detail, "The user denied the request.")
      assert.include(error.message, "Sign-in was denied")
      assert.include(error.message, "nexus login")

      const shown = yield* Deferred.await(page)
      assert.strictEqual(shown.result, "Sign-in failed")
      assert.include(shown.text, "Sign-in was denied (The user denied the request.)")
      assert.isTrue(shown.url.startsWith(`http://localhost:${callbackPort}/auth/callback?`), shown.url)
    })
  )
})
