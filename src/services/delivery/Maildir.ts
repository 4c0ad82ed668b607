/**
 * Writes standard maildirs (`tmp/`, `new/`, `cur/`) readable by mutt and
 * Python's `mailbox.Maildir`: each file is written in `tmp/`, synced, then
 * renamed into `new/`. Directories are 0700 and files 0600, because alerts
 * can carry secrets.
 */
import { Clock, Data, Effect } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { uniqueName } from "../../domain/message/MaildirName.ts"
import { makeDirectories } from "../store/DurableFile.ts"

/** A maildir could not be written. */
export class MaildirError extends Data.TaggedError("MaildirError")<{ readonly dir: string; readonly cause: unknown }> {
  override get message(): string {
    return `maildir ${this.dir}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

let counter = 0

const ensureDirs = (dir: string) =>
  Promise.all(["tmp", "new", "cur"].map((sub) => makeDirectories(path.join(dir, sub))))

/** Writes one message into the maildir at `dir`; returns the path of the new file. */
const deliver = (dir: string, message: Uint8Array): Effect.Effect<string, MaildirError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const name = uniqueName(
      { nowMillis: now, pid: process.pid, counter: ++counter, random: crypto.randomBytes(4).toString("hex") },
      os.hostname()
    )
    return yield* Effect.tryPromise({
      try: async () => {
        await ensureDirs(dir)
        const tmpPath = path.join(dir, "tmp", name)
        const finalPath = path.join(dir, "new", name)
        const handle = await fs.open(tmpPath, "wx", 0o600)
        try {
          await handle.writeFile(message)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await fs.rename(tmpPath, finalPath)
        return finalPath
      },
      catch: (cause) => new MaildirError({ dir, cause })
    })
  })

/** The maildirs failmail writes (`--fail-dir`, `--all-dir`). */
export class Maildir extends Effect.Service<Maildir>()("failmail/Maildir", {
  succeed: {
    /** Writes one message into the maildir at `dir`; returns the path of the new file. */
    deliver
  }
}) {}
