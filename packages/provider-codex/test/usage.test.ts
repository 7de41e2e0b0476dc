import { assert, describe, it } from "@effect/vitest"
import { creditsFromHeaders, fromEvent, fromHeaders } from "../src/UsageWindows.ts"

describe("usage windows from an answer's headers (protocol §8)", () => {
  it("reads the primary and secondary windows and classifies them by length, not position", () => {
    const windows = fromHeaders({
      // A backend that reports the weekly window first.
      "x-codex-primary-used-percent": "12.5",
      "x-codex-primary-window-minutes": "10080",
      "x-codex-primary-reset-at": "1700000000",
      "x-codex-secondary-used-percent": "80",
      "x-codex-secondary-window-minutes": "300"
    })
    assert.deepStrictEqual(
      windows.map((w) => [w.limitId, w.kind, w.windowMinutes, w.usedPercent, w.resetsAt?.epochMilliseconds]),
      [
        ["codex", "weekly", 10080, 12.5, 1_700_000_000_000],
        ["codex", "five_hour", 300, 80, undefined]
      ]
    )
  })

  it("adds the family x-codex-active-limit names (with - for _), besides codex", () => {
    const windows = fromHeaders({
      "x-codex-active-limit": "codex_other",
      "x-codex-primary-used-percent": "5",
      "x-codex-primary-window-minutes": "300",
      "x-codex-other-primary-used-percent": "100",
      "x-codex-other-primary-window-minutes": "1440"
    })
    assert.deepStrictEqual(
      windows.map((w) => [w.limitId, w.kind, w.usedPercent]),
      [
        ["codex", "five_hour", 5],
        ["codex-other", "other", 100]
      ]
    )
  })

  it("skips a window whose numbers are missing or not numbers", () => {
    assert.deepStrictEqual(
      fromHeaders({ "x-codex-primary-used-percent": "lots", "x-codex-primary-window-minutes": "300" }),
      []
    )
    assert.deepStrictEqual(fromHeaders({}), [])
  })

  it("reads the credits headers, and nothing when there are none", () => {
    assert.deepStrictEqual(
      creditsFromHeaders({
        "x-codex-credits-has-credits": "true",
        "x-codex-credits-unlimited": "false",
        "x-codex-credits-balance": "42.5"
      }),
      { hasCredits: true, unlimited: false, balance: 42.5 }
    )
    assert.isUndefined(creditsFromHeaders({}))
  })

  it("reads the windows of a codex.rate_limits event by their length", () => {
    assert.deepStrictEqual(
      fromEvent({
        primary: { usedPercent: 40, windowMinutes: 300, resetAt: 1_700_000_000 },
        secondary: { usedPercent: 3, windowMinutes: 10080 }
      }).map((w) => [w.kind, w.usedPercent]),
      [
        ["five_hour", 40],
        ["weekly", 3]
      ]
    )
  })
})
