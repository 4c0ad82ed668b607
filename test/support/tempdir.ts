/** Temporary directories for tests and the bench: one helper, and its scoped form for Effect tests. */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A new directory named from `prefix`, in `parent` (the system's temp folder unless given); the caller removes it. */
export const tempDir = (prefix = "failmail-test-", parent = os.tmpdir()): string => fs.mkdtempSync(path.join(parent, prefix))

/** A new temporary directory named from `prefix`, removed with all it holds when the test's scope closes. */
export const scopedTempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => tempDir(prefix)),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
