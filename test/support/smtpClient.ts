/**
 * The raw SMTP client of the tests and the bench: a conversation over a
 * socket that writes lines and reads whole (multi-line) replies, each read
 * bounded by a deadline. Tests drive it line by line to check what failmail
 * answers; the bench sends whole transactions with {@link Conversation.send},
 * one command at a time (no pipelining), like Python's `SMTPHandler` or a
 * cron MTA, and gets the moments it wrote the message and got its reply.
 */
import * as net from "node:net"
import * as tls from "node:tls"

/** One SMTP reply. */
export interface Reply {
  readonly code: number
  readonly lines: ReadonlyArray<string>
  /** All lines, joined with `\n`. */
  readonly text: string
}

/** A reply other than the one a step of {@link Conversation.send} needs. */
export class SmtpError extends Error {
  constructor(
    message: string,
    readonly reply?: Reply
  ) {
    super(message)
  }
}

/**
 * The connection failed after the message's final `.` was written and before
 * its reply came: the server may or may not have stored it.
 */
export class UnansweredData extends Error {}

/** When a message of {@link Conversation.send} went out and its reply came back. */
export interface SendTiming {
  /** When the final `.` of DATA was written (monotonic ms, `performance.now()`). */
  readonly dataEndAt: number
  /** When the reply to DATA came back (monotonic ms). */
  readonly ackAt: number
  /** The same two moments on the wall clock (`Date.now()`, what failmail stamps messages with). */
  readonly dataEndWall: number
  readonly ackWall: number
  readonly reply: Reply
}

/** How to connect. */
export interface OpenOptions {
  /** Implicit TLS (the certificate is not checked). */
  readonly tls?: boolean
  /** Connect from this address (another 127.x "host"). */
  readonly localAddress?: string
  readonly onConnect?: (socket: net.Socket) => void
  /** How long a read waits unless told otherwise (5 s). */
  readonly timeoutMs?: number
}

/** A message dot-stuffed, in CRLF lines, followed by the `.` that ends DATA. */
const dataBlock = (message: Buffer): Buffer => {
  let text = message.toString("latin1").replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..")
  if (!text.endsWith("\r\n")) text += "\r\n"
  return Buffer.from(`${text}.\r\n`, "latin1")
}

/** A raw SMTP conversation over a socket. */
export class Conversation {
  private buffer = ""
  private readonly waiting: Array<() => void> = []
  private ended = false
  private socket: net.Socket

  private constructor(
    socket: net.Socket,
    private readonly timeoutMs: number
  ) {
    this.socket = socket
    this.listen(socket)
  }

  private listen(socket: net.Socket) {
    socket.setNoDelay(true)
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => {
      this.buffer += chunk
      this.wake()
    })
    socket.on("close", () => {
      this.ended = true
      this.wake()
    })
    socket.on("error", () => {
      this.ended = true
      this.wake()
    })
  }

  private wake() {
    for (const waiter of this.waiting.splice(0)) waiter()
  }

  /** Resolves on the next input or close, or after `ms`. */
  private next(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.waiting.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** Connects to 127.0.0.1:`port`; does not read the greeting. */
  static open(port: number, options: OpenOptions = {}): Promise<Conversation> {
    return new Promise((resolve, reject) => {
      const connected = () => {
        options.onConnect?.(socket)
        resolve(conversation)
      }
      const socket: net.Socket = options.tls
        ? tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, connected)
        : net.connect({ host: "127.0.0.1", port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) }, connected)
      const conversation = new Conversation(socket, options.timeoutMs ?? 5_000)
      socket.once("error", reject)
    })
  }

  /** Connects and reads the greeting, which must be 220. */
  static async greeted(port: number, options: OpenOptions = {}): Promise<Conversation> {
    const conversation = await Conversation.open(port, options)
    const greeting = await conversation.read().catch((error: Error) => {
      conversation.destroy()
      throw error
    })
    if (greeting.code !== 220) {
      conversation.destroy()
      throw new SmtpError(`greeting: ${greeting.text}`, greeting)
    }
    return conversation
  }

  /** The next complete reply, failing after `timeoutMs`. */
  async read(timeoutMs = this.timeoutMs): Promise<Reply> {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const reply = this.take()
      if (reply !== undefined) return reply
      if (this.ended) throw new Error(`connection closed while waiting for a reply (buffer: ${JSON.stringify(this.buffer)})`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no complete reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this.buffer)})`)
      await this.next(left)
    }
  }

  private take(): Reply | undefined {
    const lines: Array<string> = []
    let offset = 0
    while (true) {
      const end = this.buffer.indexOf("\r\n", offset)
      if (end === -1) return undefined
      const line = this.buffer.slice(offset, end)
      offset = end + 2
      lines.push(line)
      if (!/^\d{3}-/.test(line)) {
        this.buffer = this.buffer.slice(offset)
        return { code: Number(line.slice(0, 3)), lines, text: lines.join("\n") }
      }
    }
  }

  /** Writes raw bytes. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data)
  }

  /** Writes raw bytes and resolves once the socket can take more (to stream large bodies without buffering them). */
  async writeDrained(data: Buffer): Promise<void> {
    if (this.socket.write(data) || this.ended) return
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off("drain", done)
        this.socket.off("close", done)
        resolve()
      }
      this.socket.on("drain", done)
      this.socket.on("close", done)
    })
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, timeoutMs = this.timeoutMs): Promise<Reply> {
    this.write(`${line}\r\n`)
    return this.read(timeoutMs)
  }

  /** Sends one command line; fails with {@link SmtpError} unless the reply is `code`. */
  private async expectReply(line: string, code: number): Promise<Reply> {
    const reply = await this.command(line)
    if (reply.code !== code) throw new SmtpError(`${line.split(" ")[0]}: ${reply.text}`, reply)
    return reply
  }

  /** EHLO, which must be answered 250. */
  async ehlo(name = "client.localhost"): Promise<Reply> {
    return this.expectReply(`EHLO ${name}`, 250)
  }

  /**
   * One transaction: MAIL, RCPT (each), DATA and the message (dot-stuffed,
   * in CRLF lines); fails with {@link SmtpError} on any reply but the
   * expected one, and with {@link UnansweredData} when the connection fails
   * between the message's end and its reply.
   */
  async send(from: string, to: ReadonlyArray<string>, message: Buffer): Promise<SendTiming> {
    await this.expectReply(`MAIL FROM:<${from}>`, 250)
    for (const recipient of to) await this.expectReply(`RCPT TO:<${recipient}>`, 250)
    await this.expectReply("DATA", 354)
    this.write(dataBlock(message))
    const dataEndAt = performance.now()
    const dataEndWall = Date.now()
    const reply = await this.read().catch((error: Error) => {
      throw new UnansweredData(`DATA end: ${error.message}`)
    })
    const ackAt = performance.now()
    const ackWall = Date.now()
    if (reply.code !== 250) throw new SmtpError(`DATA end: ${reply.text}`, reply)
    return { dataEndAt, ackAt, dataEndWall, ackWall, reply }
  }

  /** STARTTLS, then the TLS handshake on the same connection (certificate not checked). */
  async startTls(): Promise<Reply> {
    const reply = await this.command("STARTTLS")
    if (reply.code !== 220) return reply
    const plain = this.socket
    plain.removeAllListeners("data")
    plain.removeAllListeners("close")
    plain.removeAllListeners("error")
    await new Promise<void>((resolve, reject) => {
      const secure = tls.connect({ socket: plain, rejectUnauthorized: false, servername: "localhost" }, () => resolve())
      secure.once("error", reject)
      this.socket = secure
      this.listen(secure)
    })
    return reply
  }

  /** Whether the socket is encrypted. */
  get encrypted(): boolean {
    return this.socket instanceof tls.TLSSocket && this.socket.encrypted
  }

  /** Resolves once the server closed the connection (failing after `timeoutMs`). */
  async closedByPeer(timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.ended) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for the server to close the connection`)
      await this.next(left)
    }
  }

  /** QUIT (best effort) and close. */
  async quit(): Promise<void> {
    if (!this.ended) {
      await this.command("QUIT", 2_000).catch(() => undefined)
    }
    this.destroy()
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.socket.destroy()
  }
}
