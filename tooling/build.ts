// Bundles a binary into one ES module that needs nothing but Node: the workspace packages, Effect
// and every other dependency inlined, only what the binary reaches kept (esbuild follows the
// packages' `sideEffects`). Run from the app's directory:
//   node ../../tooling/build.ts src/bin.ts dist/nexus.mjs
// writes the bundle as dist/nexus.bundle.mjs, and dist/nexus.mjs, the executable: it turns on
// Node's compile cache (module.enableCompileCache: the compiled bundle is kept on disk, in the OS
// user's cache, ~/.cache/nexus, or NODE_COMPILE_CACHE), then loads the bundle — later starts skip compiling it (`nexus
// --help` in ~0.22 s instead of ~0.35 s here; `./dev bench:startup`).
// Why ship a bundle: loading the sources module by module (Node strips the types as it goes)
// reads ~1,400 files and keeps what they define whether used or not; the bundle of `nexus` starts
// in a third of the time, and a worker idles in ~45 MB less (`./dev bench:worker` shows both).
import { build } from "esbuild"
import { chmodSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname } from "node:path"

const [entry, outfile] = process.argv.slice(2)
if (entry === undefined || outfile === undefined) {
  console.error("usage: node tooling/build.ts <entry.ts> <out.mjs>")
  process.exit(2)
}

const bundle = outfile.replace(/\.mjs$/, ".bundle.mjs")
// The output directory holds only what this writes: nothing stale survives a build.
rmSync(dirname(outfile), { recursive: true, force: true })
const result = await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  // CommonJS dependencies (pg) call `require`, which an ES module does not have.
  banner: {
    js: "import { createRequire as __nexusRequire } from 'node:module'; const require = __nexusRequire(import.meta.url);"
  },
  // pg's optional native binding, loaded only when asked for (we never do).
  external: ["pg-native"],
  legalComments: "none",
  sourcemap: "linked",
  logLevel: "warning",
  metafile: true
})
writeFileSync(
  outfile,
  [
    "#!/usr/bin/env node",
    "// Compiled code kept on disk, in this user's own cache (never a directory another user could",
    "// prepare): later starts skip compiling the bundle. NODE_COMPILE_CACHE chooses another place.",
    'import module from "node:module"',
    'import { homedir } from "node:os"',
    'import { join } from "node:path"',
    "module.enableCompileCache?.(",
    '  process.env.NODE_COMPILE_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "nexus", "node-compile-cache")',
    ")",
    `await import("./${basename(bundle)}")`,
    ""
  ].join("\n")
)
chmodSync(outfile, 0o755)
const bytes = Object.values(result.metafile.outputs).find((output) => output.entryPoint !== undefined)?.bytes ?? 0
console.log(
  `${bundle}: ${(bytes / 1048576).toFixed(1)} MB from ${Object.keys(result.metafile.inputs).length} files; ${outfile} runs it`
)
