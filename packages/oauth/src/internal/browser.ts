// Opens the system browser when the machine has one; a headless box simply prints the URL.
import { spawn } from "node:child_process"
import { Effect } from "effect"

const opener = (): readonly [string, ReadonlyArray<string>] | undefined => {
  switch (process.platform) {
    case "darwin":
      return ["open", []]
    case "win32":
      // Not `cmd /c start`: cmd would split the URL at its `&`s.
      return ["rundll32", ["url.dll,FileProtocolHandler"]]
    default:
      return process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? ["xdg-open", []] : undefined
  }
}

const launch = (url: string): boolean => {
  const command = opener()
  if (!command) return false
  try {
    const child = spawn(command[0], [...command[1], url], { detached: true, stdio: "ignore" })
    child.on("error", () => {})
    child.unref()
    return true
  } catch {
    return false
  }
}

/** Best effort: never fails, reports whether a browser was launched. */
export const openSystemBrowser = (url: string) =>
  Effect.sync(() => launch(url)).pipe(
    Effect.tap((opened) => Effect.logDebug(opened ? "opened the system browser" : "no system browser to open"))
  )
