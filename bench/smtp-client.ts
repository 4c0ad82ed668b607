/**
 * A minimal SMTP client for measuring: plain commands one at a time (no
 * pipelining), like Python's `SMTPHandler` or a cron MTA, with timestamps
 * of what it sent and when replies came back. Every wait is bounded by the
 * socket timeout.
 */
import * as net from "node:net"
import { now } from "./util.ts"

export interface Reply {
  readonly code: number
  readonly text: string
}

/** Timestamps (monotonic ms, `performance.now()`) of one message sent. */
export interface SendTiming {
  /** When the final `.` of DATA was written. */
  readonly dataEndAt: number
  /** When the reply to DATA came back. */
  readonly ackAt: number
  /** The same two moments on the wall clock (`Date.now()`, what failmail stamps messages with). */
  readonly dataEndWall: number
  readonly ackWall: number
  readonly reply: Reply
}

export class SmtpError extends Error {
  constructor(
    message: string,
    readonly reply?: Reply
  ) {
    super(message)
  }
}

/** Dot-stuffs a message and makes sure it ends with CRLF, then appends the terminating `.`. */
const dataBlock = (message: Buffer): Buffer => {
  let text = message.toString("latin1").replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..")
  if (!text.endsWith("\r\n")) text += "\r\n"
  return Buffer.from(`${text}.\r\n`, "latin1")
}

/**
 * The connection failed after the message's final `.` was written and before
 * its reply came: the server may or may not have stored it.
 */
export class UnansweredData extends Error {}

export class SmtpConnection {
  private buffered = ""
  private lines: Array<string> = []
  private waiting: Array<{ resolve: (reply: Reply) => void; reject: (error: Error) => void }> = []
  private failure: Error | undefined

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true)
    socket.on("data", (chunk) => this.onData(chunk))
    socket.on("error", (error) => this.fail(error))
    socket.on("close", () => this.fail(new Error("connection closed")))
    socket.on("timeout", () => {
      this.fail(new Error("SMTP timeout"))
      socket.destroy()
    })
  }

  /** Connects to 127.0.0.1:port and reads the greeting (which must be 220). */
  static async open(port: number, timeoutMs = 10_000): Promise<{ connection: SmtpConnection; greeting: Reply }> {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.setTimeout(timeoutMs)
    const connection = new SmtpConnection(socket)
    const greeting = await connection.read()
    if (greeting.code !== 220) {
      socket.destroy()
      throw new SmtpError(`greeting ${greeting.code} ${greeting.text}`, greeting)
    }
    return { connection, greeting }
  }

  private onData(chunk: Buffer) {
    this.buffered += chunk.toString("latin1")
    let index: number
    while ((index = this.buffered.indexOf("\r\n")) !== -1) {
      const line = this.buffered.slice(0, index)
      this.buffered = this.buffered.slice(index + 2)
      this.lines.push(line)
      // A reply ends with a line "NNN text" (a space, not a hyphen, after the code).
      if (/^\d{3}(?: |$)/.test(line)) {
        const text = this.lines.map((l) => l.slice(4)).join("\n")
        const reply = { code: Number(line.slice(0, 3)), text }
        this.lines = []
        this.waiting.shift()?.resolve(reply)
      }
    }
  }

  private fail(error: Error) {
    if (this.failure === undefined) this.failure = error
    for (const waiter of this.waiting.splice(0)) waiter.reject(error)
  }

  private read(): Promise<Reply> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  /** Sends one command line and reads its reply. */
  async command(line: string): Promise<Reply> {
    const reply = this.read()
    this.socket.write(`${line}\r\n`)
    return reply
  }

  private async expect(line: string, code: number): Promise<Reply> {
    const reply = await this.command(line)
    if (reply.code !== code) throw new SmtpError(`${line.split(" ")[0]}: ${reply.code} ${reply.text}`, reply)
    return reply
  }

  async ehlo(name = "bench.localhost"): Promise<void> {
    await this.expect(`EHLO ${name}`, 250)
  }

  /** One transaction: MAIL, RCPT (each), DATA, the message; resolves with the final reply (250 expected). */
  async send(from: string, to: ReadonlyArray<string>, message: Buffer): Promise<SendTiming> {
    await this.expect(`MAIL FROM:<${from}>`, 250)
    for (const recipient of to) await this.expect(`RCPT TO:<${recipient}>`, 250)
    await this.expect("DATA", 354)
    const reply = this.read()
    this.socket.write(dataBlock(message))
    const dataEndAt = now()
    const dataEndWall = Date.now()
    const final = await reply.catch((error: Error) => {
      throw new UnansweredData(`DATA end: ${error.message}`)
    })
    const ackAt = now()
    const ackWall = Date.now()
    if (final.code !== 250) throw new SmtpError(`DATA end: ${final.code} ${final.text}`, final)
    return { dataEndAt, ackAt, dataEndWall, ackWall, reply: final }
  }

  /** QUIT without waiting for more than the reply; closes the socket. */
  async quit(): Promise<void> {
    try {
      await this.command("QUIT")
    } catch {
      // the server may close first
    } finally {
      this.socket.destroy()
    }
  }

  destroy() {
    this.socket.destroy()
  }
}

/** A message of about `size` bytes, with optional Subject and X-Failmail-Split headers. */
export const buildMessage = (options: {
  readonly from: string
  readonly to: string
  readonly subject?: string
  readonly split?: string
  readonly size: number
  readonly seq: number
}): Buffer => {
  const headers = [
    `From: <${options.from}>`,
    `To: <${options.to}>`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <bench.${process.pid}.${options.seq}@bench.localhost>`,
    ...(options.subject === undefined ? [] : [`Subject: ${options.subject}`]),
    ...(options.split === undefined ? [] : [`X-Failmail-Split: ${options.split}`])
  ].join("\r\n")
  const head = `${headers}\r\n\r\n`
  const lines: Array<string> = []
  let length = head.length
  for (let line = 1; length < options.size && line < 100_000; line++) {
    const text = `${line} ${"X".repeat(76)}`.slice(0, Math.max(1, Math.min(78, options.size - length - 2)))
    lines.push(text)
    length += text.length + 2
  }
  return Buffer.from(head + lines.join("\r\n") + "\r\n", "latin1")
}
