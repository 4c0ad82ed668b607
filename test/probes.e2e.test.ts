/**
 * The probes as Kubernetes uses them, against the built daemon: they answer
 * whatever state the dashboard's files are in (a copy of the build whose
 * `templates/dashboard/` is broken or missing).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { buildDaemon, httpPortOf, launch, ready } from "./support/daemon.ts"
import { tempDir } from "./support/tempdir.ts"

const root = path.resolve(import.meta.dirname, "..")

beforeAll(buildDaemon, 120_000)

/** A copy of the build (`dist/`, `templates/`, the modules it loads) in a folder of its own, its templates changed by `change`. */
const installedCopy = (change: (templates: string) => void): string => {
  const dir = tempDir("failmail-probes-")
  fs.cpSync(path.join(root, "dist"), path.join(dir, "dist"), { recursive: true })
  fs.cpSync(path.join(root, "templates"), path.join(dir, "templates"), { recursive: true })
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"))
  change(path.join(dir, "templates"))
  return dir
}

const statusOf = async (port: number, route: string): Promise<number> => (await fetch(`http://127.0.0.1:${port}${route}`)).status

describe("the probes do not depend on the dashboard", () => {
  const cases: ReadonlyArray<readonly [string, (templates: string) => void]> = [
    ["missing", (templates) => fs.rmSync(path.join(templates, "dashboard", "page.hbs"))],
    ["broken", (templates) => fs.writeFileSync(path.join(templates, "dashboard", "page.hbs"), "{{#if unclosed}}\n")]
  ]
  for (const [what, change] of cases) {
    it(`a ${what} dashboard template: /healthz, /readyz, /metrics and the API answer; the page is 500`, async () => {
      const install = installedCopy(change)
      const child = launch(
        ["--bind-addr=127.0.0.1:0", "--bind-http=127.0.0.1:0", "--relay-addr=127.0.0.1:9", `--message-store=${path.join(install, "spool")}`],
        install,
        process.env,
        "node",
        [path.join(install, "dist", "main.js")]
      )
      await ready(child)
      const port = httpPortOf(child)
      for (const route of ["/healthz", "/readyz", "/metrics", "/api/stats", "/api/batches"]) {
        expect(await statusOf(port, route), route).toBe(200)
      }
      expect(await statusOf(port, "/")).toBe(500)
      expect(child.output()).toContain("page.hbs")
      fs.rmSync(install, { recursive: true, force: true })
    })
  }
})
