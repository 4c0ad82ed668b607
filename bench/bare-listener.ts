/**
 * The listener's ceiling, run as its own process by the harness:
 * smtp-server with the options failmail uses for plain SMTP (and failmail's
 * greeting patch), answering 250 to every message at once without storing
 * it. What failmail reaches is bounded by this.
 *
 *   node dist-bench/bench/bare-listener.js   → prints "listening <port>"
 */
import { SMTPServer } from "smtp-server"
import * as SmtpServerInternals from "../src/services/smtp/SmtpServerInternals.ts"

SmtpServerInternals.install()

const server = new SMTPServer({
  banner: "bare smtp-server",
  size: 10 * 1024 * 1024,
  authOptional: true,
  disabledCommands: ["STARTTLS", "AUTH"],
  disableReverseLookup: true,
  lenientAddressParsing: true,
  logger: false,
  onData: (stream, _session, callback) => {
    const chunks: Array<Buffer> = []
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.on("end", () => {
      Buffer.concat(chunks)
      callback(null, "Ok")
    })
  }
})
server.listen(0, "127.0.0.1", () => {
  const address = server.server.address()
  process.stdout.write(`listening ${typeof address === "object" && address !== null ? address.port : 0}\n`)
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
