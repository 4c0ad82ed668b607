/**
 * Running the bench programs (`bench/*.ts`, compiled to `dist-bench/`) from a
 * smoke test, against the built daemon.
 */
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { buildDaemon } from "./daemon.ts"

const root = fileURLToPath(new URL("../..", import.meta.url))
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")

/** Builds the daemon when it is not built yet, and compiles the bench programs. */
export const buildBench = (): void => {
  if (!fs.existsSync(path.join(root, "dist", "main.js"))) {
    buildDaemon()
  }
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.bench.json"], { cwd: root, stdio: "inherit" })
}

/** Runs `dist-bench/bench/<program>.js` with `args` (no FAILMAIL_ variables), killed after `timeoutMs`: its exit code and output. */
export const runBench = (program: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("FAILMAIL_")))
    const file = path.join(root, "dist-bench", "bench", `${program}.js`)
    execFile(process.execPath, [file, ...args], { cwd: root, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    )
  })
