/**
 * `failmail sendmail`: reads a message on standard input and submits it to a
 * failmail over SMTP (nodemailer's SMTP connection), exiting 0 only once
 * failmail answered `250`, so cron's `MAILTO` and scripts reach failmail
 * without a local MTA. Anything it cannot do is one line on stderr and a
 * `<sysexits.h>` status (75: try again later).
 *
 * Cron runs this for every job, so it is plain Node with nothing of the
 * daemon loaded (no Effect runtime, no service graph): importing the Effect
 * runtime alone would more than double its start-up time.
 */
import * as crypto from "node:crypto"
import * as dns from "node:dns/promises"
import * as net from "node:net"
import * as os from "node:os"
import SMTPConnection from "nodemailer/lib/smtp-connection"
import * as Either from "effect/Either"
import { ExitStatus, parse, usage, type SendmailOptions } from "../domain/sendmail/Sendmail.ts"
import { DotLineScanner, envelopeRecipients, prepare, withDomain } from "../domain/sendmail/SendmailMessage.ts"

/** Why the command stops, and its exit status. */
class Failure extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

/** Reads standard input to its end, or (without `-i`) to a line holding a single dot. */
const readMessage = (input: NodeJS.ReadStream, ignoreDots: boolean): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    const scanner = ignoreDots ? undefined : new DotLineScanner()
    const done = (end: number | undefined) => {
      input.off("data", onData).off("end", onEnd).off("error", onError)
      const all = Buffer.concat(chunks)
      resolve(end === undefined ? all : all.subarray(0, end))
    }
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      const end = scanner?.feed(chunk)
      if (end !== undefined) {
        input.destroy()
        done(end)
      }
    }
    const onEnd = () => done(scanner?.finish())
    const onError = (error: Error) => reject(new Failure(ExitStatus.ioError, `cannot read the message: ${error.message}`))
    input.on("data", onData).once("end", onEnd).once("error", onError)
  })

/** The login name sendmail would use as the sender. */
const userName = (env: Readonly<Record<string, string | undefined>>): string => {
  try {
    return os.userInfo().username
  } catch {
    return env["LOGNAME"] ?? env["USER"] ?? "nobody"
  }
}

/** The addresses to try for a host name, in the resolver's order (an IP address is itself). */
const addressesOf = async (host: string): Promise<ReadonlyArray<string>> => {
  if (net.isIP(host) !== 0) return [host]
  try {
    return (await dns.lookup(host, { all: true })).map((entry) => entry.address)
  } catch (error) {
    throw new Failure(ExitStatus.tempFail, `cannot resolve ${host}: ${(error as Error).message}`)
  }
}

type SmtpError = SMTPConnection.SMTPError

/** The exit status for an SMTP failure: a permanent refusal (5xx) is 69, anything else transient (75). */
const statusOf = (error: SmtpError): number => (error.permanent === true ? ExitStatus.unavailable : ExitStatus.tempFail)

/** One line for an SMTP failure. */
const describe = (error: Error): string => error.message.replace(/\s+/g, " ").trim()

/** Opens an SMTP session to the first address that accepts a connection. */
const connect = async (options: SendmailOptions, timeoutMs: number): Promise<SMTPConnection> => {
  const addresses = await addressesOf(options.smtp.host)
  let last: SmtpError | undefined
  for (const address of addresses) {
    const connection = new SMTPConnection({
      host: address,
      port: options.smtp.port,
      name: os.hostname(),
      secure: false,
      // failmail's certificate is usually its own: encrypt when offered, without checking it.
      tls: { rejectUnauthorized: false },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      socketCloseTimeout: 0
    })
    try {
      await new Promise<void>((resolve, reject) => {
        connection.once("error", reject)
        connection.connect((error) => {
          connection.off("error", reject)
          if (error === undefined || error === null) resolve()
          else reject(error)
        })
      })
      connection.on("error", () => undefined)
      return connection
    } catch (error) {
      last = error as SmtpError
      connection.close()
    }
  }
  const reason = last === undefined ? `${options.smtp.host} has no address` : describe(last)
  throw new Failure(last === undefined ? ExitStatus.tempFail : statusOf(last), `cannot connect to ${options.smtpText}: ${reason}`)
}

const sendOnce = (connection: SMTPConnection, from: string, to: ReadonlyArray<string>, message: Buffer) =>
  new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
    connection.send(
      { from, to: [...to], size: message.length, use8BitMime: message.some((byte) => byte > 0x7f) },
      message,
      (error, info) => (error ? reject(error) : resolve(info as SMTPConnection.SentMessageInfo))
    )
  )

/**
 * Submits the message; recipients refused with 4xx (such as `452` beyond
 * `--max-recipients`) are tried again in a new transaction as long as
 * each one gets some through.
 */
const submit = async (options: SendmailOptions, from: string, to: ReadonlyArray<string>, message: Buffer): Promise<void> => {
  const connection = await connect(options, options.timeoutMs)
  try {
    let remaining = to
    const refused: Array<string> = []
    while (remaining.length > 0) {
      const info = await sendOnce(connection, from, remaining, message).catch((error: SmtpError) => {
        throw new Failure(statusOf(error), `${options.smtpText} did not take the message: ${describe(error)}`)
      })
      const rejected = info.rejectedErrors ?? []
      refused.push(...rejected.filter((error) => statusOf(error) === ExitStatus.unavailable).map(describe))
      remaining = rejected.filter((error) => statusOf(error) === ExitStatus.tempFail).map((error) => error.recipient ?? "")
      if (info.accepted.length === 0 && remaining.length > 0) {
        throw new Failure(ExitStatus.tempFail, `${options.smtpText} did not take the message: ${rejected.map(describe).join("; ")}`)
      }
    }
    if (refused.length > 0) throw new Failure(ExitStatus.unavailable, `${options.smtpText} refused some recipients: ${refused.join("; ")}`)
  } finally {
    connection.quit()
  }
}

/** Bounds `work` by the submission timeout (a stalled failmail is a temporary failure). */
const bounded = <A>(work: Promise<A>, options: SendmailOptions): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Failure(ExitStatus.tempFail, `no answer from ${options.smtpText} within ${options.timeoutMs} ms`)),
      options.timeoutMs
    )
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

const run = async (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Promise<number> => {
  const parsed = parse(args, env)
  if (Either.isLeft(parsed)) throw new Failure(ExitStatus.usage, parsed.left)
  const options = parsed.right
  if (options.help) {
    process.stdout.write(usage)
    return ExitStatus.ok
  }
  const hostname = os.hostname() || "localhost"
  const defaultSender = `${userName(env)}@${hostname}`
  const sender = options.sender === undefined ? defaultSender : withDomain(options.sender, hostname)
  if (!options.extractRecipients && options.recipients.length === 0) {
    throw new Failure(ExitStatus.usage, "no recipients given (name them as arguments, or use -t to read To, Cc and Bcc)")
  }
  const input = await readMessage(process.stdin, options.ignoreDots)
  const prepared = prepare(input, {
    from: sender === "" ? defaultSender : sender,
    fullName: options.fullName,
    now: Date.now(),
    messageId: `<${Date.now()}.${crypto.randomBytes(8).toString("hex")}@${hostname}>`
  })
  const recipients = envelopeRecipients(options.recipients, options.extractRecipients ? prepared.headerRecipients : [], hostname)
  if (recipients.length === 0) {
    throw new Failure(ExitStatus.dataError, "no recipients: the message has no address in To, Cc or Bcc")
  }
  const invalid = [sender, ...recipients].find((address) => /[\s<>]/.test(address))
  if (invalid !== undefined) throw new Failure(ExitStatus.usage, `invalid address ${JSON.stringify(invalid)}`)
  await bounded(submit(options, sender, recipients, prepared.message), options)
  return ExitStatus.ok
}

/** Runs `failmail sendmail` with these arguments; resolves to the exit status (errors already printed). */
export const sendmail = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Promise<number> =>
  run(args, env).catch((error: unknown) => {
    const failure = error instanceof Failure ? error : new Failure(ExitStatus.tempFail, String(error))
    process.stderr.write(`failmail sendmail: ${failure.message}\n`)
    return failure.status
  })
