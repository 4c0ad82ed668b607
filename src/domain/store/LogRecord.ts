/**
 * The records of the embedded message log (`<message-store>/log/*.seg`):
 * how a stored message and a removal are laid out in a segment, and how a
 * segment is read back, stopping at the first record that is not whole (a
 * write torn by a crash or a failing disk) so it is never taken for a
 * message.
 *
 * A record is a 20-byte header, then its metadata (UTF-8 JSON), then its
 * raw bytes (a message's, as received; none for a removal):
 *
 *   0  magic "FML1"        8  metadata length (u32 LE)
 *   4  kind (1 message,    12 raw length (u32 LE)
 *      2 removal), 3 zero  16 CRC-32 of bytes 4–15, the metadata and the raw bytes
 */
import * as zlib from "node:zlib"

/** Bytes of a record's header. */
export const HEADER_BYTES = 20

const MAGIC = 0x314c4d46 // "FML1" read as a little-endian u32
const MESSAGE = 1
const REMOVAL = 2
/** A record larger than this is not one failmail wrote (so the header is damaged). */
const MAX_PART = 1024 * 1024 * 1024

/** One record read back from a segment. */
export type Entry =
  | {
      readonly kind: "message"
      /** The metadata, parsed (the store's own record of the message). */
      readonly meta: unknown
      /** Where the raw bytes are in the segment, and how many. */
      readonly rawOffset: number
      readonly rawLength: number
      /** Bytes of the whole record. */
      readonly length: number
    }
  | { readonly kind: "removal"; readonly ids: ReadonlyArray<string>; readonly length: number }

const header = (kind: number, meta: Buffer, raw: Uint8Array): Buffer => {
  const head = Buffer.alloc(HEADER_BYTES)
  head.writeUInt32LE(MAGIC, 0)
  head.writeUInt8(kind, 4)
  head.writeUInt32LE(meta.byteLength, 8)
  head.writeUInt32LE(raw.byteLength, 12)
  const crc = zlib.crc32(raw, zlib.crc32(meta, zlib.crc32(head.subarray(4, 16))))
  head.writeUInt32LE(crc, 16)
  return head
}

/** The chunks of a message's record (its raw bytes are not copied). */
export const encodeMessage = (meta: unknown, raw: Uint8Array): Array<Uint8Array> => {
  const json = Buffer.from(JSON.stringify(meta), "utf8")
  return [header(MESSAGE, json, raw), json, raw]
}

/** The chunks of a record removing `ids`. */
export const encodeRemoval = (ids: ReadonlyArray<string>): Array<Uint8Array> => {
  const json = Buffer.from(JSON.stringify(ids), "utf8")
  return [header(REMOVAL, json, new Uint8Array(0)), json]
}

/** Bytes of the chunks of one record. */
export const lengthOf = (chunks: ReadonlyArray<Uint8Array>): number => chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0)

/** What reading a segment found: its whole records, where they end, and why reading stopped short of the end. */
export interface Decoded {
  readonly entries: ReadonlyArray<{ readonly offset: number; readonly entry: Entry }>
  /** Where the last whole record ends: the segment's true length. */
  readonly end: number
  /** Why bytes after `end` are not records (a torn or damaged record), or `undefined` if there are none. */
  readonly problem: string | undefined
  /** Records skipped before `end`: framed whole, with another record after them, but damaged inside. */
  readonly skipped: ReadonlyArray<string>
}

/** Whether a record header (magic and a known kind) starts at `offset`. */
const headerAt = (bytes: Buffer, offset: number): boolean =>
  bytes.length - offset >= HEADER_BYTES &&
  bytes.readUInt32LE(offset) === MAGIC &&
  (bytes.readUInt8(offset + 4) === MESSAGE || bytes.readUInt8(offset + 4) === REMOVAL)

/** Whether every byte of `bytes` from `offset` on is zero. */
const zerosFrom = (bytes: Buffer, offset: number): boolean => {
  for (let at = offset; at < bytes.length; at++) if (bytes[at] !== 0) return false
  return true
}

/**
 * Reads the records of a segment's bytes, in order; zeros after the last
 * record are space filled ahead of it, not records. A record that is not
 * whole ends the segment (a write torn by a crash: nothing after it was
 * acknowledged). One damaged inside (its checksum or metadata wrong) but
 * followed by another record is skipped, so a bad sector costs that record,
 * not every one after it.
 */
export const decode = (bytes: Buffer): Decoded => {
  const entries: Array<{ offset: number; entry: Entry }> = []
  const skipped: Array<string> = []
  let offset = 0
  const stop = (problem: string): Decoded => ({ entries, end: offset, problem: `${problem} at byte ${offset}`, skipped })
  while (offset < bytes.length) {
    // What follows the last record of a segment written to is zeros, filled ahead of it: not a torn record.
    if (zerosFrom(bytes, offset)) break
    if (bytes.length - offset < HEADER_BYTES) return stop("a torn record header")
    if (bytes.readUInt32LE(offset) !== MAGIC) return stop("no record")
    const kind = bytes.readUInt8(offset + 4)
    const metaLength = bytes.readUInt32LE(offset + 8)
    const rawLength = bytes.readUInt32LE(offset + 12)
    if ((kind !== MESSAGE && kind !== REMOVAL) || metaLength > MAX_PART || rawLength > MAX_PART) return stop("a damaged record header")
    const metaStart = offset + HEADER_BYTES
    const rawStart = metaStart + metaLength
    const end = rawStart + rawLength
    if (end > bytes.length) return stop("a torn record")
    const meta = bytes.subarray(metaStart, rawStart)
    const crc = zlib.crc32(bytes.subarray(rawStart, end), zlib.crc32(meta, zlib.crc32(bytes.subarray(offset + 4, offset + 16))))
    let parsed: unknown
    let damage: string | undefined
    if (crc !== bytes.readUInt32LE(offset + 16)) {
      damage = "a record whose checksum does not match"
    } else {
      try {
        parsed = JSON.parse(meta.toString("utf8"))
      } catch {
        damage = "a record whose metadata is not JSON"
      }
    }
    if (damage !== undefined) {
      if (!headerAt(bytes, end)) return stop(damage)
      skipped.push(`${damage} at byte ${offset}`)
      offset = end
      continue
    }
    const length = end - offset
    if (kind === MESSAGE) {
      entries.push({ offset, entry: { kind: "message", meta: parsed, rawOffset: rawStart, rawLength, length } })
    } else {
      const ids = Array.isArray(parsed) ? parsed.filter((id): id is string => typeof id === "string") : []
      entries.push({ offset, entry: { kind: "removal", ids, length } })
    }
    offset = end
  }
  return { entries, end: offset, problem: undefined, skipped }
}
