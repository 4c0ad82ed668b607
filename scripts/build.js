#!/usr/bin/env node
/**
 * Builds `dist/` from `src/`: one tree-shaken ES module bundle with source
 * maps (esbuild), so failmail loads only the parts of Effect and of its
 * other dependencies it uses. Each subcommand's modules stay in chunks of
 * their own, loaded only when that command runs. Type checking is
 * `npm run typecheck` (esbuild does not check types).
 *
 * smtp-server stays an ordinary dependency: `src/services/smtp/SmtpServerInternals.ts`
 * checks the shape of its code before patching it. So does libmime (with
 * its charset tables): `src/domain/message/HeaderBlock.ts` requires it on the first
 * encoded-word, and mailparser and its splitter then share that one copy.
 */
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const outdir = path.join(root, "dist")

fs.rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints: [path.join(root, "src", "main.ts")],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // Whitespace and syntax only: names stay as written, in stack traces and error names.
  minifyWhitespace: true,
  minifySyntax: true,
  external: ["smtp-server", "libmime"],
  // The CommonJS dependencies bundled into these ES modules require Node's built-in modules.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
  logLevel: "warning"
})
// V8 holds a module's source as a two-byte string (twice the memory) if it has one character outside ASCII;
// esbuild escapes them in strings but not in regular expression literals: write those with \u escapes.
for (const file of fs.readdirSync(outdir).filter((name) => name.endsWith(".js"))) {
  const at = fs.readFileSync(path.join(outdir, file), "latin1").search(/[^\x00-\x7f]/)
  if (at !== -1) throw new Error(`dist/${file}: a character outside ASCII at offset ${at} (see scripts/build.js)`)
}
fs.chmodSync(path.join(outdir, "main.js"), 0o755)
