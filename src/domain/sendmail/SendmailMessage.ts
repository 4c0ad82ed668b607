/**
 * What `failmail sendmail` does to the message it reads, as sendmail does:
 * where standard input ends (a line holding a single dot, unless `-i`),
 * which recipients `-t` finds in the headers, and the header block it
 * submits: `Bcc` removed, `From`, `Date` and `Message-ID` added when
 * missing, an mbox `From ` line dropped. Bytes are otherwise kept as they
 * came (failmail's SMTP client turns bare line feeds into CRLF).
 */
import { addressesIn } from "../settings/Address.ts"
import { formatRfc2822 } from "../delivery/SummaryText.ts"

const DOT = 0x2e
const CR = 0x0d
const LF = 0x0a

/**
 * Finds where the message ends on standard input without `-i`: before the
 * first line holding a single dot (`.` then LF or CRLF, or `.` at the very
 * end). Fed chunk by chunk, so reading can stop at the dot line.
 */
export class DotLineScanner {
  private seen = 0
  private lineStart = 0
  /** 0: at a line start; 1: the line so far is "."; 2: it is ".\r"; 3: anything else. */
  private state: 0 | 1 | 2 | 3 = 0

  /** Scans the next chunk; returns the message's length (in bytes of all input) once the dot line is seen. */
  feed(chunk: Uint8Array): number | undefined {
    for (let index = 0; index < chunk.length; index++) {
      const byte = chunk[index]
      if (byte === LF) {
        if (this.state === 1 || this.state === 2) return this.lineStart
        this.state = 0
        this.lineStart = this.seen + index + 1
      } else if (this.state === 0) this.state = byte === DOT ? 1 : 3
      else if (this.state === 1) this.state = byte === CR ? 2 : 3
      else this.state = 3
    }
    this.seen += chunk.length
    return undefined
  }

  /** At the end of input: the message's length when the last line is a lone dot without a line end. */
  finish(): number | undefined {
    return this.state === 1 || this.state === 2 ? this.lineStart : undefined
  }
}

/** What sendmail fills in when the message lacks it. */
export interface Fill {
  /** The From header's address (the envelope sender, or user@host for the null sender). */
  readonly from: string
  /** `-F`: the From header's display name. */
  readonly fullName: string | undefined
  /** The Date header's time (ms since the epoch). */
  readonly now: number
  /** The Message-ID, with its angle brackets. */
  readonly messageId: string
}

/** The message to submit and the recipients its headers name. */
export interface Prepared {
  readonly message: Buffer
  /** Addresses in To, Cc and Bcc, in order (for `-t`). */
  readonly headerRecipients: ReadonlyArray<string>
}

interface Field {
  /** Lower-cased name. */
  readonly name: string
  /** The field's lines as read (latin1, so bytes survive), line ends included. */
  text: string
}

const FIELD_START = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/
const RECIPIENT_FIELDS = new Set(["to", "cc", "bcc"])
const REMOVED_FIELDS = new Set(["bcc", "resent-bcc"])

/** The header fields and where the body starts (after the blank line, or at the first line that is no header). */
const splitHeader = (text: string): { fields: Array<Field>; bodyStart: number } => {
  const fields: Array<Field> = []
  let at = 0
  while (at < text.length) {
    const newline = text.indexOf("\n", at)
    const next = newline === -1 ? text.length : newline + 1
    const line = text.slice(at, newline === -1 ? text.length : newline).replace(/\r$/, "")
    if (line === "") return { fields, bodyStart: next }
    const last = fields[fields.length - 1]
    const start = FIELD_START.exec(line)
    if (/^[ \t]/.test(line) && last !== undefined) last.text += text.slice(at, next)
    else if (start !== null) fields.push({ name: (start[1] ?? "").toLowerCase(), text: text.slice(at, next) })
    else return { fields, bodyStart: at }
    at = next
  }
  return { fields, bodyStart: text.length }
}

const valueOf = (field: Field): string => {
  const raw = Buffer.from(field.text, "latin1").toString("utf8")
  return raw.slice(raw.indexOf(":") + 1).replace(/\r?\n[ \t]/g, " ").trim()
}

/** A display name as a header phrase: quoted when it holds specials, RFC 2047 when not ASCII. */
const phrase = (name: string): string => {
  const clean = name.replace(/[\r\n]+/g, " ").trim()
  if (/[^\x20-\x7e]/.test(clean)) return `=?UTF-8?B?${Buffer.from(clean, "utf8").toString("base64")}?=`
  return /^[\w !#$%&'*+\-/=?^`{|}~]*$/.test(clean) ? clean : `"${clean.replace(/(["\\])/g, "\\$1")}"`
}

/** The header block's line end: the one the message uses, LF when it has none. */
const lineEndOf = (text: string): string => (/\r\n/.test(text.slice(0, 4096)) ? "\r\n" : "\n")

/** Turns the message read from standard input into the one submitted. */
export const prepare = (raw: Uint8Array, fill: Fill): Prepared => {
  let text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1")
  if (text.startsWith("From ")) text = text.slice(text.indexOf("\n") === -1 ? text.length : text.indexOf("\n") + 1)
  const { fields, bodyStart } = splitHeader(text)
  const eol = lineEndOf(text)
  const has = (name: string) => fields.some((field) => field.name === name)
  const headerRecipients = fields.filter((field) => RECIPIENT_FIELDS.has(field.name)).flatMap((field) => addressesIn(valueOf(field)))
  const added: Array<string> = []
  if (!has("from")) {
    const name = fill.fullName === undefined || fill.fullName.trim() === "" ? undefined : phrase(fill.fullName)
    added.push(`From: ${name === undefined ? fill.from : `${name} <${fill.from}>`}`)
  }
  if (!has("date")) added.push(`Date: ${formatRfc2822(fill.now)}`)
  if (!has("message-id")) added.push(`Message-ID: ${fill.messageId}`)
  const kept = fields.filter((field) => !REMOVED_FIELDS.has(field.name)).map((field) => field.text)
  // A last header line without its line end still needs one before the added lines.
  const header = kept.join("").replace(/([^\n])$/, `$1${eol}`)
  const body = text.slice(bodyStart)
  // The blank line that ended the header block was consumed with it; a body that followed no blank line gets one.
  const message = header + added.map((line) => line + eol).join("") + eol + body
  return { message: Buffer.from(message, "latin1"), headerRecipients }
}

/**
 * The envelope recipients: operands (each may list several addresses) and,
 * with `-t`, the header recipients; a bare local name gets `@domain`, as
 * sendmail appends its own domain; duplicates (compared case-insensitively)
 * are dropped.
 */
export const envelopeRecipients = (
  operands: ReadonlyArray<string>,
  headerRecipients: ReadonlyArray<string>,
  domain: string
): ReadonlyArray<string> => {
  const seen = new Set<string>()
  const result: Array<string> = []
  for (const address of [...operands.flatMap(addressesIn), ...headerRecipients]) {
    const full = withDomain(address, domain)
    const key = full.toLowerCase()
    if (seen.has(key)) continue
    seen.add(key)
    result.push(full)
  }
  return result
}

/** `root` → `root@domain`; an address with a domain is kept. */
export const withDomain = (address: string, domain: string): string =>
  address === "" || address.includes("@") ? address : `${address}@${domain}`
