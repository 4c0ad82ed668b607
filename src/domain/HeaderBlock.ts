/**
 * Reads just the header block of a message: cheap enough to run for every
 * received message before its 250, when the key expressions need no body.
 * Folded lines are unfolded and RFC 2047 encoded-words decoded (libmime), the
 * way mailparser presents them; a message whose first line is not a header
 * has no headers.
 */
import libmime from "libmime"
import type { Envelope, MessageView } from "./Message.ts"

/** The header block is looked for in this many bytes at most. */
const HEADER_SCAN_LIMIT = 256 * 1024

const HEADER_LINE = /^([^\s:]+)[ \t]*:(.*)$/s

/** The end of the header block (index of the blank line), or the scanned length. */
const headerEnd = (raw: Buffer): number => {
  const limit = Math.min(raw.length, HEADER_SCAN_LIMIT)
  const crlf = raw.indexOf("\r\n\r\n")
  const lf = raw.indexOf("\n\n")
  const ends = [crlf, lf].filter((index) => index !== -1 && index < limit)
  return ends.length === 0 ? limit : Math.min(...ends)
}

const decode = (value: string): string => {
  try {
    return libmime.decodeWords(value)
  } catch {
    return value
  }
}

/** Lower-cased header name → first value, decoded and unfolded. */
export const readHeaders = (raw: Uint8Array): Readonly<Record<string, string>> => {
  const buffer = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  const lines = buffer.subarray(0, headerEnd(buffer)).toString("utf8").split(/\r?\n/)
  const unfolded: Array<string> = []
  for (const line of lines) {
    if (/^[ \t]/.test(line) && unfolded.length > 0) unfolded[unfolded.length - 1] += ` ${line.trim()}`
    else unfolded.push(line)
  }
  const headers: Record<string, string> = {}
  for (const line of unfolded) {
    const match = HEADER_LINE.exec(line)
    if (match === null) {
      if (Object.keys(headers).length === 0) return {}
      continue
    }
    const name = (match[1] ?? "").toLowerCase()
    if (!(name in headers)) headers[name] = decode((match[2] ?? "").trim())
  }
  return headers
}

/** A view of a message from its headers alone (`body` is empty). */
export const headerView = (raw: Uint8Array, envelope: Envelope): MessageView => {
  const headers = readHeaders(raw)
  return {
    subject: headers["subject"] ?? "",
    from: headers["from"] ?? "",
    to: headers["to"] ?? "",
    date: headers["date"] ?? "",
    body: "",
    headers,
    envelope
  }
}
