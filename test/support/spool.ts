/**
 * What a `--message-store` holds, read from outside as the log format
 * defines it (segments in order; a later record of an id replaces an
 * earlier one, a removal record ends it): an oracle independent of the
 * daemon's own index.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as LogRecord from "../../src/domain/store/LogRecord.ts"
import type { SpoolRecord } from "../../src/services/store/Store.ts"

const segmentsOf = (messageStore: string): ReadonlyArray<string> => {
  const dir = path.join(messageStore, "log")
  try {
    return fs
      .readdirSync(dir)
      .filter((name) => /^\d+\.seg$/.test(name))
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
      .map((name) => path.join(dir, name))
  } catch {
    return []
  }
}

/** The messages the store at `messageStore` holds, with their raw bytes, oldest first. */
export const heldMessagesIn = (messageStore: string): ReadonlyArray<{ readonly record: SpoolRecord; readonly raw: Buffer }> => {
  const held = new Map<string, { record: SpoolRecord; raw: Buffer }>()
  for (const segment of segmentsOf(messageStore)) {
    const bytes = fs.readFileSync(segment)
    for (const { entry } of LogRecord.decode(bytes).entries) {
      if (entry.kind === "removal") {
        for (const id of entry.ids) held.delete(id)
      } else {
        const record = entry.meta as SpoolRecord
        held.set(record.id, { record, raw: bytes.subarray(entry.rawOffset, entry.rawOffset + entry.rawLength) })
      }
    }
  }
  return [...held.values()].sort((a, b) => a.record.receivedAt - b.record.receivedAt || (a.record.id < b.record.id ? -1 : 1))
}

/** The messages the store at `messageStore` holds, oldest first. */
export const heldIn = (messageStore: string): ReadonlyArray<SpoolRecord> => heldMessagesIn(messageStore).map((message) => message.record)

/** Files in the store that are neither segments nor state: what a write left half done (nothing, ever). */
export const leftoversIn = (messageStore: string): ReadonlyArray<string> =>
  ["log", "msg", "tmp"].flatMap((sub) => {
    try {
      return fs
        .readdirSync(path.join(messageStore, sub))
        .filter((name) => !/^\d+\.seg$/.test(name))
        .map((name) => path.join(sub, name))
    } catch {
      return []
    }
  })

/**
 * Rewrites every message record of a stopped failmail's store through
 * `change` (say, to make them older, as if failmail had been down longer).
 */
export const rewriteHeld = (messageStore: string, change: (record: SpoolRecord) => SpoolRecord): void => {
  for (const segment of segmentsOf(messageStore)) {
    const bytes = fs.readFileSync(segment)
    const chunks = LogRecord.decode(bytes).entries.flatMap(({ offset, entry }) =>
      entry.kind === "removal"
        ? [bytes.subarray(offset, offset + entry.length)]
        : LogRecord.encodeMessage(change(entry.meta as SpoolRecord), bytes.subarray(entry.rawOffset, entry.rawOffset + entry.rawLength))
    )
    fs.writeFileSync(segment, Buffer.concat(chunks))
  }
}
