/**
 * The machine's npm settings, for tests that run npm: its global config (where a machine keeps its
 * registry, proxy and CA settings) named explicitly. The npm first on PATH may run under `./dev`'s
 * Node, whose global config lives under that Node's prefix and is empty; and `npm --prefix P`
 * looks for the global config under P. Either way the machine's settings would go unread.
 *
 * @since 0.1.0
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"

/**
 * Environment variables that make any npm read the machine's global config: the one already named
 * by `npm_config_globalconfig`, else `/etc/npmrc` when there is one, else the one npm reports.
 *
 * @since 0.1.0
 * @category environment
 */
export const machineConfig = (): Record<string, string> => {
  const named = process.env["npm_config_globalconfig"]
  if (named !== undefined) return { npm_config_globalconfig: named }
  if (existsSync("/etc/npmrc")) return { npm_config_globalconfig: "/etc/npmrc" }
  const reported = execFileSync("npm", ["config", "get", "globalconfig"], { encoding: "utf8", timeout: 30_000 }).trim()
  return { npm_config_globalconfig: reported }
}
