/**
 * The recording upstream, run as its own process (so its timestamps do not
 * wait on the harness's event loop): an smtp-server on 127.0.0.1:0 that
 * accepts everything and prints one JSON line per accepted message on
 * stdout — when the message was accepted (`Date.now()`, as failmail stamps
 * arrivals, taken just before the 250 is sent), its X-Failmail-Batch header
 * and size.
 * With `--null` it prints nothing per message (a Node null sink, the
 * reference when postfix's smtp-sink is not installed); with
 * `--delay-ms=N` it answers each DATA N ms late (a slow upstream), and
 * records only the messages whose 250 goes to an open connection.
 *
 * failmail's own greeting fix is applied, as a real MTA greets at once:
 * smtp-server's default 100 ms greeting pause would otherwise be counted
 * against every new relay connection failmail opens.
 */
import type { AddressInfo } from "node:net"
import { SMTPServer } from "smtp-server"
import * as SmtpServerInternals from "../src/services/smtp/SmtpServerInternals.ts"
import { headerOf } from "./headers.ts"

SmtpServerInternals.install()

const quiet = process.argv.includes("--null")
/** `--delay-ms=N`: answer each DATA N ms after it ended (a slow upstream). */
const delayMs = Number(/^--delay-ms=(\d+)$/.exec(process.argv.find((arg) => arg.startsWith("--delay-ms=")) ?? "")?.[1] ?? "0")
/** Sessions whose connection closed: a message whose 250 would go to a closed connection was not accepted. */
const closed = new Set<string>()

const server = new SMTPServer({
  name: "recorder.bench",
  disableReverseLookup: true,
  logger: false,
  authOptional: true,
  disabledCommands: ["STARTTLS", "AUTH"],
  size: 100 * 1024 * 1024,
  maxClients: 1000,
  closeTimeout: 200,
  onClose: (session) => void closed.add(session.id),
  onData: (stream, session, callback) => {
    const chunks: Array<Buffer> = []
    stream.on("data", (chunk: Buffer) => {
      if (!quiet) chunks.push(chunk)
    })
    stream.on("error", () => undefined)
    const accept = () => {
      if (closed.has(session.id)) return callback(new Error("connection closed"))
      if (!quiet) {
        // Date.now(): the clock failmail stamps arrivals with (performance.timeOrigin + now() may be a millisecond or two apart).
        const at = Date.now()
        const raw = Buffer.concat(chunks)
        const record = {
          at,
          batch: headerOf(raw, "X-Failmail-Batch"),
          messages: Number(headerOf(raw, "X-Failmail-Messages") || "0"),
          groups: Number(headerOf(raw, "X-Failmail-Groups") || "0"),
          bytes: raw.length
        }
        process.stdout.write(`${JSON.stringify(record)}\n`)
      }
      callback(null, "Ok: recorded")
    }
    stream.on("end", () => (delayMs === 0 ? accept() : setTimeout(accept, delayMs)))
  }
})

server.listen(0, "127.0.0.1", () => {
  const { port } = server.server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`)
})

const stop = () => server.close(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
// The harness is gone: stop too.
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
