/**
 * Decodes received messages into the fields expressions and summaries read
 * (mailparser): RFC 2047 subjects, folded headers, quoted-printable and
 * base64 bodies, charsets. A message that does not parse is still an alert:
 * whatever can be read is used, never an error.
 */
import { Effect } from "effect"
import { simpleParser, type ParsedMail } from "mailparser"
import type { Envelope, MessageView } from "../domain/Message.ts"

/** At most this many messages are decoded at once (mailparser buffers whole messages). */
const PARSE_CONCURRENCY = 4

const headerText = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value instanceof Date) return value.toUTCString()
  if (Array.isArray(value)) return headerText(value[0])
  if (value !== null && typeof value === "object") {
    const record = value as { text?: unknown; value?: unknown }
    if (typeof record.text === "string") return record.text
    if (typeof record.value === "string") return record.value
  }
  return value === undefined || value === null ? "" : String(value)
}

const rawHeaderValue = (parsed: ParsedMail, name: string): string => {
  const line = parsed.headerLines.find((header) => header.key === name)?.line ?? ""
  return line.slice(line.indexOf(":") + 1).replace(/\r?\n[ \t]+/g, " ").trim()
}

const viewOf = (parsed: ParsedMail, envelope: Envelope): MessageView => {
  const headers: Record<string, string> = {}
  for (const [name, value] of parsed.headers) {
    if (name in headers) continue
    headers[name] = name === "date" ? rawHeaderValue(parsed, name) : headerText(value)
  }
  return {
    subject: parsed.subject ?? "",
    from: headerText(parsed.from),
    to: headerText(parsed.to),
    date: headers["date"] ?? "",
    body: (parsed.text ?? "").replace(/\r\n/g, "\n"),
    headers,
    envelope
  }
}

/** What can be read from bytes that mailparser could not handle at all. */
const fallbackView = (raw: Uint8Array, envelope: Envelope): MessageView => ({
  subject: "",
  from: "",
  to: "",
  date: "",
  body: Buffer.from(raw).toString("utf8"),
  headers: {},
  envelope
})

/** The message decoder. */
export class MessageParser extends Effect.Service<MessageParser>()("failmail/MessageParser", {
  effect: Effect.gen(function* () {
    const permits = yield* Effect.makeSemaphore(PARSE_CONCURRENCY)
    const parse = (raw: Uint8Array, envelope: Envelope): Effect.Effect<MessageView> =>
      permits.withPermits(1)(
        Effect.tryPromise(() =>
          simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
            skipHtmlToText: false,
            maxHtmlLengthToParse: 1024 * 1024,
            skipImageLinks: true,
            skipTextToHtml: true,
            skipTextLinks: true,
            checksumAlgo: false
          })
        ).pipe(
          Effect.map((parsed) => viewOf(parsed, envelope)),
          Effect.catchAll((error) =>
            Effect.logWarning(`message does not parse, using it as text: ${error.message}`).pipe(
              Effect.as(fallbackView(raw, envelope))
            )
          )
        )
      )
    return { parse }
  })
}) {}
