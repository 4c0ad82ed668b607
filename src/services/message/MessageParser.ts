/**
 * Decodes the body of received messages (mailparser: MIME structure,
 * quoted-printable and base64, charsets, text from HTML), for expressions
 * that read `body` and for summaries. The headers of the view come from
 * `domain/message/HeaderBlock.ts`, as on the header-only path, so decoding the body
 * never changes them. A message that does not parse is still an alert:
 * whatever can be read is used, never an error.
 *
 * mailparser (with its charset tables, HTML-to-text and link finders) is
 * loaded on the first body to decode, not at start: a failmail whose
 * expressions read headers only needs it for its first summary, and is
 * that much smaller until then.
 */
import { Effect } from "effect"
import { messageView } from "../../domain/message/HeaderBlock.ts"
import * as LogContext from "../../domain/LogContext.ts"
import type { Envelope, MessageView } from "../../domain/message/Message.ts"

/** mailparser, once loaded. */
let loaded: typeof import("mailparser") | undefined

/** Loads mailparser, once: failmail does so with the first body it decodes (tests, up front). */
export const loadMailparser = async (): Promise<typeof import("mailparser")> => (loaded ??= await import("mailparser"))

/** mailparser: at once when it is loaded, after loading it otherwise. */
const mailparser = Effect.suspend(() => (loaded === undefined ? Effect.promise(loadMailparser) : Effect.succeed(loaded)))

/** At most this many messages are decoded at once (mailparser buffers whole messages). */
const PARSE_CONCURRENCY = 4

/** The message decoder. */
export class MessageParser extends Effect.Service<MessageParser>()("failmail/MessageParser", {
  effect: Effect.gen(function* () {
    const permits = yield* Effect.makeSemaphore(PARSE_CONCURRENCY)
    const bodyOf = (raw: Uint8Array): Effect.Effect<string> =>
      permits.withPermits(1)(
        Effect.flatMap(mailparser, ({ simpleParser }) =>
          Effect.tryPromise(() =>
            simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
              skipHtmlToText: false,
              maxHtmlLengthToParse: 1024 * 1024,
              skipImageLinks: true,
              skipTextToHtml: true,
              skipTextLinks: true,
              checksumAlgo: false
            })
          )
        ).pipe(
          Effect.map((parsed) => (parsed.text ?? "").replace(/\r\n/g, "\n")),
          Effect.catchAll((error) =>
            Effect.logWarning(`message does not parse, using it as text: ${error.message}`).pipe(
              LogContext.annotate({ component: "classifier" }),
              Effect.as(Buffer.from(raw).toString("utf8"))
            )
          )
        )
      )
    /** The full view of a message: its headers, and its decoded text body. */
    const parse = (raw: Uint8Array, envelope: Envelope): Effect.Effect<MessageView> =>
      Effect.map(bodyOf(raw), (body) => messageView(raw, envelope, body))
    return { parse }
  })
}) {}
