// Bundles a binary into one ES module that needs nothing but Node: the workspace packages, Effect
// and every other dependency inlined, only what the binary reaches kept (esbuild follows the
// packages' `sideEffects`). Run from the app's directory:
//   node ../../tooling/build.ts src/bin.ts dist/nexus.mjs
// Why ship a bundle: loading the sources module by module (Node strips the types as it goes)
// reads ~1,400 files and keeps what they define whether used or not; the bundle of `nexus` starts
// in a third of the time, and a worker idles in ~45 MB less (`./dev bench:worker` shows both).
import { build } from "esbuild"
import { chmodSync } from "node:fs"

const [entry, outfile] = process.argv.slice(2)
if (entry === undefined || outfile === undefined) {
  console.error("usage: node tooling/build.ts <entry.ts> <out.mjs>")
  process.exit(2)
}

const result = await build({
  entryPoints: [entry],
  outfile,
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
chmodSync(outfile, 0o755)
const bytes = Object.values(result.metafile.outputs).find((output) => output.entryPoint !== undefined)?.bytes ?? 0
console.log(`${outfile}: ${(bytes / 1048576).toFixed(1)} MB from ${Object.keys(result.metafile.inputs).length} files`)
