/**
 * The recording upstream SMTP server of the end-to-end tests and the bench
 * (whose `bench/recorder.ts` runs it as a process of its own), built with
 * smtp-server on 127.0.0.1:0. It records the envelope and raw message of
 * every delivery, can be told to fail the next N messages with a given reply
 * (451, 550, ...), can require AUTH, offers STARTTLS when given a
 * certificate, and can be slow to answer DATA.
 */
import type { AddressInfo } from "node:net"
import { SMTPServer, type SMTPServerOptions } from "smtp-server"
import { smtpReply as reply } from "../../src/domain/smtp/SmtpReply.ts"

/** One message as the upstream received it. */
export interface Delivery {
  readonly from: string
  /** Envelope recipients, as sent. */
  readonly to: ReadonlyArray<string>
  /** The message as received (after SMTP dot-unstuffing). */
  readonly raw: Buffer
  /** Whether the session was encrypted (STARTTLS or implicit TLS). */
  readonly secure: boolean
  /** The user the client authenticated as, or `""`. */
  readonly user: string
  /** When it was accepted (`Date.now()`), to check how fast summaries arrive. */
  readonly at: number
}

/** What to be. */
export interface UpstreamOptions {
  /** Require AUTH (PLAIN or LOGIN) with these credentials. */
  readonly auth?: { readonly user: string; readonly pass: string }
  /** Offer STARTTLS with this certificate and key (PEM). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer }
  /**
   * Wait this long after a message's DATA before answering it (a slow
   * upstream; a function: the wait for the n-th message, 0 first, for an
   * uneven one); it counts as delivered when answered.
   */
  readonly replyDelayMs?: number | ((n: number) => number)
  /** With `replyDelayMs`: a message whose client hung up before the answer is refused, not delivered (the client never got its 250). */
  readonly onlyAnswered?: boolean
  /** Called with each message as it is accepted, just before its 250. */
  readonly onDelivery?: (delivery: Delivery) => void
  /** Keep accepted messages in `deliveries` (the default); a long run passes false and sees them in `onDelivery` only. */
  readonly keep?: boolean
  /** At most this many connections at once (smtp-server's default otherwise). */
  readonly maxClients?: number
  /** Answers `RCPT TO` with 451 for each recipient this holds for (asked anew at each RCPT). */
  readonly refuses?: (recipient: string) => boolean
}

/** A running upstream. */
export interface Upstream {
  readonly port: number
  /** `127.0.0.1:<port>`, for `relayAddr`. */
  readonly address: string
  /** Accepted messages, in order. */
  readonly deliveries: Array<Delivery>
  /** Every DATA transaction seen, accepted or failed (to count retries), counted once its data is in, before the reply. */
  readonly attempts: () => number
  /** Connections accepted so far. */
  readonly connections: () => number
  /** Recipients refused so far (see {@link UpstreamOptions.refuses}). */
  readonly refusals: () => number
  /** Answers the next `count` messages (after DATA) with `code` and `text`. */
  readonly failNext: (code: number, count?: number, text?: string) => void
  readonly close: () => Promise<void>
}


/** Starts an upstream on 127.0.0.1 on a free port. */
export const startUpstream = async (options: UpstreamOptions = {}): Promise<Upstream> => {
  const deliveries: Array<Delivery> = []
  /** Messages received so far (for an uneven `replyDelayMs`). */
  let received = 0
  const failures: Array<{ code: number; text: string }> = []
  let attempts = 0
  let connections = 0
  let refusals = 0
  /** For `onlyAnswered`: the sessions whose message waits for its answer, and whether their client hung up meanwhile. */
  const awaiting = new Map<string, boolean>()
  /** Without a reader of the messages, their bytes are not even gathered (a null sink). */
  const gather = options.keep !== false || options.onDelivery !== undefined
  const serverOptions: SMTPServerOptions = {
    name: "upstream.test",
    disableReverseLookup: true,
    logger: false,
    ...(options.tls === undefined ? {} : { key: options.tls.key, cert: options.tls.cert }),
    disabledCommands: [...(options.tls === undefined ? ["STARTTLS"] : []), ...(options.auth === undefined ? ["AUTH"] : [])],
    authOptional: options.auth === undefined,
    authMethods: ["PLAIN", "LOGIN"],
    allowInsecureAuth: true,
    size: 100 * 1024 * 1024,
    closeTimeout: 500,
    ...(options.maxClients === undefined ? {} : { maxClients: options.maxClients }),
    onConnect: (_session, callback) => {
      connections++
      callback()
    },
    onClose: (session) => {
      if (awaiting.has(session.id)) awaiting.set(session.id, true)
    },
    onRcptTo: (address, _session, callback) => {
      if (options.refuses?.(address.address) !== true) return callback()
      refusals++
      callback(reply(451, "Try again later"))
    },
    onAuth: (auth, _session, callback) => {
      if (options.auth !== undefined && auth.username === options.auth.user && auth.password === options.auth.pass) {
        return callback(null, { user: auth.username })
      }
      callback(reply(535, "Authentication credentials invalid"))
    },
    onData: (stream, session, callback) => {
      const chunks: Array<Buffer> = []
      stream.on("data", (chunk: Buffer) => {
        if (gather) chunks.push(chunk)
      })
      stream.on("error", () => undefined)
      stream.on("end", () => {
        attempts++
        const answer = () => {
          const hungUp = awaiting.get(session.id) === true
          awaiting.delete(session.id)
          if (hungUp) return callback(new Error("connection closed"))
          const failure = failures.shift()
          if (failure !== undefined) return callback(reply(failure.code, failure.text))
          const user = session.user as unknown
          const delivery: Delivery = {
            from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((recipient) => recipient.address),
            raw: Buffer.concat(chunks),
            secure: session.secure,
            user: typeof user === "string" ? user : "",
            at: Date.now()
          }
          if (options.keep !== false) deliveries.push(delivery)
          options.onDelivery?.(delivery)
          callback(null, "Ok: recorded")
        }
        if (options.replyDelayMs === undefined) return answer()
        if (options.onlyAnswered === true) awaiting.set(session.id, false)
        setTimeout(answer, typeof options.replyDelayMs === "number" ? options.replyDelayMs : options.replyDelayMs(received++))
      })
    }
  }
  const server = new SMTPServer(serverOptions)
  server.on("error", () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const port = (server.server.address() as AddressInfo).port
  return {
    port,
    address: `127.0.0.1:${port}`,
    deliveries,
    attempts: () => attempts,
    connections: () => connections,
    refusals: () => refusals,
    failNext: (code, count = 1, text = code >= 500 ? "Error: rejected for good" : "Error: try again later") => {
      for (let i = 0; i < count; i++) failures.push({ code, text })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
