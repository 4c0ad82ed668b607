/**
 * The recording upstream, run as its own process (so its timestamps do not
 * wait on the harness's event loop): the tests' recording upstream
 * (`test/support/upstream.ts`) on 127.0.0.1:0, printing one JSON line per
 * accepted message on stdout — when the message was accepted (`Date.now()`,
 * as failmail stamps arrivals, taken just before the 250 is sent), its
 * X-Failmail-Batch header and size. It keeps nothing: a run may be long.
 * With `--null` it prints nothing per message (a Node null sink, the
 * reference when postfix's smtp-sink is not installed); with
 * `--delay-ms=N` it answers each DATA N ms late (a slow upstream), and
 * records only the messages whose 250 goes to an open connection.
 *
 * failmail's smtp-server patches are installed, as a real MTA greets at once:
 * smtp-server's default 100 ms greeting pause would otherwise be counted
 * against every new relay connection failmail opens.
 */
import * as SmtpServerInternals from "../src/services/smtp/SmtpServerInternals.ts"
import { startUpstream } from "../test/support/upstream.ts"
import { headerOf } from "./headers.ts"

SmtpServerInternals.install()

const quiet = process.argv.includes("--null")
/** `--delay-ms=N`: answer each DATA N ms after it ended (a slow upstream). */
const delayMs = Number(/^--delay-ms=(\d+)$/.exec(process.argv.find((arg) => arg.startsWith("--delay-ms=")) ?? "")?.[1] ?? "0")

const upstream = await startUpstream({
  keep: false,
  maxClients: 1000,
  ...(delayMs === 0 ? {} : { replyDelayMs: delayMs, onlyAnswered: true }),
  ...(quiet
    ? {}
    : {
        onDelivery: ({ at, raw }) => {
          const record = {
            at,
            batch: headerOf(raw, "X-Failmail-Batch"),
            messages: Number(headerOf(raw, "X-Failmail-Messages") || "0"),
            groups: Number(headerOf(raw, "X-Failmail-Groups") || "0"),
            bytes: raw.length
          }
          process.stdout.write(`${JSON.stringify(record)}\n`)
        }
      })
})
process.stdout.write(`${JSON.stringify({ listening: upstream.port })}\n`)

const stop = () => void upstream.close().then(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
// The harness is gone: stop too.
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
