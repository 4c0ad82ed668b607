/**
 * `failmail sendmail`'s command line, read the way the sendmail programs of
 * Postfix and Sendmail read theirs, so that cron, `mail`, monitoring tools
 * and scripts can call it unchanged: single-letter options (clustered, with
 * values attached or separate), recipients as operands, and failmail's own
 * `--smtp` and `--timeout`. Exit statuses are those of `<sysexits.h>`.
 */
import * as Either from "effect/Either"
import { DEFAULT_BIND_ADDR, parseHostPort, type HostPort } from "../settings/Address.ts"
import * as GoDuration from "../settings/GoDuration.ts"

/** Exit statuses (`<sysexits.h>`), as callers of sendmail test them. */
export const ExitStatus = {
  ok: 0,
  /** Bad command line, or no recipient. */
  usage: 64,
  /** `-t` found no recipient in the message. */
  dataError: 65,
  /** The failmail refused the message for good (5xx). */
  unavailable: 69,
  /** Standard input could not be read. */
  ioError: 74,
  /** Not submitted now, try again later: no connection, timeout, 4xx. */
  tempFail: 75
} as const

/** What one run of `failmail sendmail` should do. */
export interface SendmailOptions {
  /** `-t`: recipients also from the To, Cc and Bcc headers. */
  readonly extractRecipients: boolean
  /** `-i` / `-oi`: a line holding a single dot does not end the message. */
  readonly ignoreDots: boolean
  /** `-f` / `-r`: the envelope sender (`""` is the null sender `<>`); unset: user@host. */
  readonly sender: string | undefined
  /** `-F`: the display name of the From header failmail adds when the message has none. */
  readonly fullName: string | undefined
  /** Where the failmail listens (`--smtp`, `FAILMAIL_SMTP`, else the default `--bind-addr`). */
  readonly smtp: HostPort
  /** `smtp` as written, for messages. */
  readonly smtpText: string
  /** Bound on the whole submission (`--timeout`), in milliseconds. */
  readonly timeoutMs: number
  /** Recipient operands, as given (each may hold several addresses, comma-separated). */
  readonly recipients: ReadonlyArray<string>
  /** `--help`. */
  readonly help: boolean
}

/** The default bound on one submission. */
export const DEFAULT_TIMEOUT = "30s"

/** Letters that take a value (attached, `-fme@host`, or the next argument, `-f me@host`). */
const WITH_VALUE = new Set([..."ABCFLNORVXbdfhopr"])

/** Letters accepted and ignored: -m (me too), -n (no aliases), -v (verbose), -G (gateway), -U (initial submission). */
const IGNORED_FLAGS = new Set([..."mnvGU"])

/** `-b` modes: only `-bm` (read a message, deliver it) is what failmail sendmail does. */
const SUPPORTED_MODES = new Set(["m"])

/** The usage text of `failmail sendmail --help`. */
export const usage = `Usage: failmail sendmail [-t] [-i] [-f FROM] [-F NAME] [--smtp HOST:PORT] [--timeout DURATION] [RCPT…] < message

Submits the message on standard input to a failmail over SMTP, like sendmail.
Exit status 0 only after failmail answered 250; 75 (try again later) when it
could not be reached, did not answer in time or answered 4xx; 69 when it refused
the message for good (5xx); 64 for bad usage or no recipient; 65 when -t finds
no recipient in the message.

  -t                  also send to the addresses in the To, Cc and Bcc headers (Bcc is removed)
  -i, -oi             a line holding a single dot does not end the message
  -f FROM, -r FROM    envelope sender (default: user@hostname); -f '' or -f '<>' for none
  -F NAME             display name of the From header added when the message has none
  --smtp HOST:PORT    the failmail to submit to (default: $FAILMAIL_SMTP, else ${DEFAULT_BIND_ADDR})
  --timeout DURATION  bound on the whole submission (default ${DEFAULT_TIMEOUT})

Accepted and ignored, as cron and scripts pass them: -oem -oee -odi -odb (any -oX),
-B TYPE, -N DSN, -R RET, -V ENVID, -O OPT=VALUE, -C FILE, -bm, -m, -n, -v.
Invoked through a link named sendmail (/usr/sbin/sendmail), failmail is this command.
`

type Problem = string

/** Reads `--name value` / `--name=value`; returns the value and how many arguments it used. */
const longValue = (args: ReadonlyArray<string>, index: number, name: string): Either.Either<[string, number], Problem> => {
  const arg = args[index] ?? ""
  if (arg.startsWith(`--${name}=`)) return Either.right([arg.slice(name.length + 3), 1])
  const next = args[index + 1]
  return next === undefined ? Either.left(`option --${name} needs a value`) : Either.right([next, 2])
}

const smtpAddress = (text: string, source: string): Either.Either<HostPort, Problem> => {
  const address = parseHostPort(text, 25)
  if (typeof address === "string") return Either.left(`${source}: ${address}`)
  return Either.right({ host: address.host === "" ? "localhost" : address.host, port: address.port })
}

/** The envelope sender of `-f`: `<>` and `""` are the null sender; `<a@b>` loses its brackets. */
const senderOf = (text: string): string => text.trim().replace(/^<(.*)>$/, "$1").trim()

/**
 * Parses the arguments after `sendmail`. Options may follow recipients (as
 * with GNU getopt); `--` ends the options.
 */
export const parse = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<SendmailOptions, Problem> => {
  let extractRecipients = false
  let ignoreDots = false
  let sender: string | undefined
  let fullName: string | undefined
  let help = false
  let smtpText: string | undefined
  let timeoutText = DEFAULT_TIMEOUT
  const recipients: Array<string> = []
  let index = 0
  while (index < args.length) {
    const arg = args[index] ?? ""
    if (arg === "--") {
      recipients.push(...args.slice(index + 1))
      break
    }
    if (!arg.startsWith("-") || arg === "-") {
      recipients.push(arg)
      index++
      continue
    }
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0] ?? ""
      if (name === "help") {
        help = true
        index++
        continue
      }
      if (name !== "smtp" && name !== "timeout") return Either.left(`unknown option ${arg} (see failmail sendmail --help)`)
      const value = longValue(args, index, name)
      if (Either.isLeft(value)) return Either.left(value.left)
      const [text, used] = value.right
      if (name === "smtp") smtpText = text
      else timeoutText = text
      index += used
      continue
    }
    // A cluster of letters: `-ti`, `-oi`, `-FCronDaemon`, `-f`, `me@host`.
    let used = 1
    for (let at = 1; at < arg.length; at++) {
      const letter = arg[at] ?? ""
      if (letter === "t") extractRecipients = true
      else if (letter === "i") ignoreDots = true
      else if (IGNORED_FLAGS.has(letter)) continue
      else if (WITH_VALUE.has(letter)) {
        let value = arg.slice(at + 1)
        if (value === "") {
          const next = args[index + 1]
          if (next === undefined) return Either.left(`option -${letter} needs a value`)
          value = next
          used = 2
        }
        if (letter === "f" || letter === "r") sender = senderOf(value)
        else if (letter === "F") fullName = value
        else if (letter === "o" && value === "i") ignoreDots = true
        else if (letter === "b" && !SUPPORTED_MODES.has(value)) {
          return Either.left(`-b${value} is not supported (failmail sendmail only submits a message: -bm)`)
        }
        break
      } else return Either.left(`unknown option -${letter} (see failmail sendmail --help)`)
    }
    index += used
  }
  const fromEnv = env["FAILMAIL_SMTP"] ?? ""
  const [source, chosen] =
    smtpText !== undefined ? ["--smtp", smtpText] : fromEnv !== "" ? ["FAILMAIL_SMTP", fromEnv] : ["--smtp", DEFAULT_BIND_ADDR]
  const smtp = smtpAddress(chosen, source)
  if (Either.isLeft(smtp)) return Either.left(smtp.left)
  const timeout = GoDuration.parseNanos(timeoutText)
  if (Either.isLeft(timeout)) return Either.left(`--timeout: ${timeout.left}`)
  if (timeout.right <= 0n) return Either.left(`--timeout: must be greater than zero, got "${timeoutText}"`)
  return Either.right({
    extractRecipients,
    ignoreDots,
    sender,
    fullName,
    smtp: smtp.right,
    smtpText: chosen,
    timeoutMs: Math.max(1, Number(timeout.right / 1_000_000n)),
    recipients,
    help
  })
}
