/**
 * The one header decoder: every view of a message (for keys, summaries and
 * tests) gets its headers from here, whether or not its body is decoded, so
 * a message has the same keys whatever the expressions read.
 *
 * It reads just the header block, which is cheap enough to run for every
 * received message before its 250. Folded lines are unfolded, RFC 2047
 * encoded-words decoded (libmime: UTF-8, ISO-8859-x, Windows-125x, KOI8-R,
 * Shift_JIS, ISO-2022-JP, …), raw 8-bit bytes read as UTF-8 (as Latin-1 on a
 * line that is not valid UTF-8). A message whose first line is not a header
 * has no headers.
 *
 * libmime, with iconv-lite's charset tables (about 4 MB resident), is loaded
 * on the first encoded-word, not at start: most alerts have none. It is
 * loaded synchronously (its CommonJS build, through `require`), as decoding
 * is plain code on the path to the 250.
 */
import type Libmime from "libmime"
import addressparser, { type Address } from "nodemailer/lib/addressparser"
import { createRequire } from "node:module"
import { domainToUnicode } from "node:url"
import type { Envelope, MessageView } from "./Message.ts"

/** The header block is looked for in this many bytes at most. */
const HEADER_SCAN_LIMIT = 256 * 1024

const HEADER_LINE = /^([^\s:]+)[ \t]*:(.*)$/s

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** The end of the header block (index of the blank line), or the scanned length. */
const headerEnd = (raw: Buffer): number => {
  const limit = Math.min(raw.length, HEADER_SCAN_LIMIT)
  const crlf = raw.indexOf("\r\n\r\n")
  const lf = raw.indexOf("\n\n")
  const ends = [crlf, lf].filter((index) => index !== -1 && index < limit)
  return ends.length === 0 ? limit : Math.min(...ends)
}

/** One raw header line as text: UTF-8, or Latin-1 when the bytes are not UTF-8. */
const lineText = (line: Buffer): string => {
  try {
    return strictUtf8.decode(line)
  } catch {
    return line.toString("latin1")
  }
}

/** The header block as lines of text, line ends removed; decoded line by line only when it is not all UTF-8. */
const headerLines = (raw: Buffer): Array<string> => {
  const block = raw.subarray(0, headerEnd(raw))
  try {
    return strictUtf8.decode(block).split(/\r?\n/)
  } catch {
    const lines: Array<string> = []
    let start = 0
    while (start <= block.length) {
      const newline = block.indexOf(0x0a, start)
      const end = newline === -1 ? block.length : newline
      lines.push(lineText(block.subarray(start, end)).replace(/\r$/, ""))
      start = end + 1
    }
    return lines
  }
}

let libmime: typeof Libmime | undefined

/** Decodes RFC 2047 encoded-words; a value without any (no `=?`) is returned as it is, without a pass of libmime. */
const decodeWords = (value: string): string => {
  if (!value.includes("=?") && !value.includes("\u0000")) return value
  libmime ??= createRequire(import.meta.url)("libmime") as typeof Libmime
  try {
    return libmime.decodeWords(value)
  } catch {
    return value
  }
}

/** Lower-cased header name → first value, unfolded but not yet decoded. */
const rawHeaders = (raw: Buffer): Record<string, string> => {
  const unfolded: Array<string> = []
  for (const line of headerLines(raw)) {
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
    if (!Object.prototype.hasOwnProperty.call(headers, name)) headers[name] = (match[2] ?? "").trim()
  }
  return headers
}

const decodeAll = (headers: Record<string, string>): Record<string, string> => {
  const decoded: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) decoded[name] = decodeWords(value)
  return decoded
}

const asBuffer = (raw: Uint8Array): Buffer => Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)

/** Lower-cased header name → first value, unfolded and decoded, otherwise as written. */
export const readHeaders = (raw: Uint8Array): Readonly<Record<string, string>> => decodeAll(rawHeaders(asBuffer(raw)))

/** An encoded-word (RFC 2047). */
const ENCODED_WORD = /=\?[^?]+\?[BbQq]\?[^?]*\?=/

/**
 * The mailbox of an address as a person reads it: an internationalized
 * domain in Unicode; an encoded-word, which RFC 2047 keeps out of
 * addresses, only when it decodes to a plain `local@domain` (one hiding
 * anything else is dropped, not taken at its word).
 */
const readableMailbox = (address: string): string => {
  let mailbox = address
  if (ENCODED_WORD.test(mailbox)) {
    const decoded = decodeWords(mailbox)
    mailbox = /^[^\s@]+@[^\s@]+$/.test(decoded) && !decoded.includes("=?") ? decoded : ""
  }
  const at = mailbox.lastIndexOf("@")
  if (at !== -1 && mailbox.slice(at + 1).startsWith("xn--")) {
    const domain = domainToUnicode(mailbox.slice(at + 1))
    if (domain !== "") mailbox = mailbox.slice(0, at + 1) + domain
  }
  return mailbox
}

/** A display name that would read as address syntax is quoted (`"Doe, John"`), any other is left bare. */
const displayName = (name: string): string =>
  /[",;:<>@()[\]\\]/.test(name) ? `"${name.replace(/["\\]/g, "\\$&")}"` : name

const displayAddress = (address: Address): string => {
  const name = decodeWords((address.name ?? "").trim())
  if (address.group !== undefined) {
    const members = address.group.map(displayAddress).join(", ")
    return `${displayName(name)}:${members === "" ? "" : ` ${members}`};`
  }
  const mailbox = readableMailbox(address.address ?? "")
  if (name === "") return mailbox
  if (mailbox === "") return name
  return `${displayName(name)} <${mailbox}>`
}

/**
 * An address header as a person reads it: `Name <address>` (name decoded,
 * quoted only when it contains address punctuation), a bare `address` when
 * there is no name, a comment standing in for a missing name
 * (`bot@x (Build Bot)` reads `Build Bot <bot@x>`), several joined by `, `.
 * Takes the raw header value (encoded-words not yet decoded).
 */
export const displayAddresses = (value: string): string => {
  try {
    return addressparser(value).map(displayAddress).join(", ")
  } catch {
    return decodeWords(value)
  }
}

/**
 * The decoded view of a message. Its headers always come from this module;
 * `body` is the decoded text body when the caller decoded it (`""` when the
 * keys need headers only), and never changes the other fields. `from` and
 * `to` (address parsing) are worked out when first read: the default keys
 * read neither.
 */
export const messageView = (raw: Uint8Array, envelope: Envelope, body = ""): MessageView => {
  const written = rawHeaders(asBuffer(raw))
  const headers = decodeAll(written)
  let from: string | undefined
  let to: string | undefined
  return {
    subject: headers["subject"] ?? "",
    get from() {
      return (from ??= displayAddresses(written["from"] ?? ""))
    },
    get to() {
      return (to ??= displayAddresses(written["to"] ?? ""))
    },
    date: headers["date"] ?? "",
    body,
    headers,
    envelope
  }
}
