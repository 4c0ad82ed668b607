/**
 * The spool format of earlier failmail releases, read only: one file per
 * message in `<message-store>/msg/<id>.eml`, a first line of JSON metadata
 * (a {@link SpoolRecord}) then the raw message. failmail takes such a spool
 * in at start (`StoreImport`); `failmail spool` and `preview` list one not
 * yet taken in.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { SpoolRecord } from "./Store.ts"

/** The longest metadata line a spool file can have. */
const HEADER_LIMIT = 64 * 1024

/** The folder of a previous release's message files (`<message-store>/msg`). */
export const messagesDirOf = (root: string): string => path.join(root, "msg")

/** Reads one spool file: its metadata and the raw message. */
export const readSpoolFile = async (file: string): Promise<{ readonly record: SpoolRecord; readonly raw: Buffer }> => {
  const content = await fs.readFile(file)
  const newline = content.indexOf(10)
  if (newline === -1 || newline >= HEADER_LIMIT) throw new Error(`${file}: no metadata line`)
  const record = JSON.parse(content.subarray(0, newline).toString("utf8")) as SpoolRecord
  return { record, raw: content.subarray(newline + 1) }
}
