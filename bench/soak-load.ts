/**
 * The clients of the soak (`soak.ts`): well-behaved ones that send paced
 * mail on new or reused connections and keep a ledger of what failmail
 * acknowledged, batch key by batch key; and garbage ones that send random
 * bytes, abandon DATA half-way or drop the connection.
 *
 * Every message names its batch (`X-Failmail-Split`); a client moves to a
 * new batch key every few messages, so that each key's summaries can be
 * checked against what was acknowledged under it: fewer messages summarized
 * than acknowledged is a loss, more is a duplicate.
 */
import { randomBytes } from "node:crypto"
import { Conversation, SmtpError, UnansweredData } from "../test/support/smtpClient.ts"
import { BENCH_CLIENT, buildMessage } from "./messages.ts"
import { now, sleep } from "./util.ts"

const FROM = "app@soak.localhost"
const TO = "ops@soak.localhost"

/** What the clients know about one batch key. */
export interface KeyLedger {
  /** Messages answered 250. */
  acknowledged: number
  /** Messages whose connection failed after the final `.`: stored or not, failmail knows. */
  unanswered: number
}

/** What the well-behaved clients saw. */
export class Ledger {
  readonly keys = new Map<string, KeyLedger>()
  /** Acknowledged messages of about 1 MB. */
  large = 0
  /** Refusals by reply code (451 while reloading or stopping, 421 at the greeting...). */
  readonly refused = new Map<number, number>()
  /** Attempts that failed before the message was sent (connection refused or closed). */
  connectionErrors = 0

  private entry(key: string): KeyLedger {
    let entry = this.keys.get(key)
    if (entry === undefined) this.keys.set(key, (entry = { acknowledged: 0, unanswered: 0 }))
    return entry
  }

  /** Records how one attempt to send a message under `key` ended. */
  record(key: string, outcome: "acknowledged" | "unanswered" | { readonly refused: number } | "connection error", large = false) {
    if (outcome === "acknowledged") {
      this.entry(key).acknowledged++
      if (large) this.large++
    } else if (outcome === "unanswered") this.entry(key).unanswered++
    else if (outcome === "connection error") this.connectionErrors++
    else this.refused.set(outcome.refused, (this.refused.get(outcome.refused) ?? 0) + 1)
  }

  get acknowledged(): number {
    return [...this.keys.values()].reduce((sum, entry) => sum + entry.acknowledged, 0)
  }

  get unanswered(): number {
    return [...this.keys.values()].reduce((sum, entry) => sum + entry.unanswered, 0)
  }
}

/** How an attempt that threw ended. */
const outcomeOf = (error: unknown): "unanswered" | { readonly refused: number } | "connection error" => {
  if (error instanceof UnansweredData) return "unanswered"
  if (error instanceof SmtpError && error.reply !== undefined) return { refused: error.reply.code }
  return "connection error"
}

/** Runs `step` about `perSecond` times a second until `until` (monotonic ms); never bursts to catch up. */
const paced = async (perSecond: number, until: number, step: () => Promise<void>) => {
  const interval = 1000 / perSecond
  let next = now()
  while (now() < until) {
    await step()
    next += interval
    const wait = next - now()
    if (wait > 0) await sleep(Math.min(wait, until - now()))
    else next = now()
  }
}

/** The kind of a well-behaved client. */
export type ClientKind = "new-connection" | "reused-connection" | "large"

/** Per client: messages per batch key before it moves to the next key, and message size. */
const SHAPES: Record<ClientKind, { readonly perKey: number; readonly size: number }> = {
  "new-connection": { perKey: 25, size: 2 * 1024 },
  "reused-connection": { perKey: 25, size: 2 * 1024 },
  large: { perKey: 5, size: 1024 * 1024 }
}

/**
 * One well-behaved client: `perSecond` messages a second until `until`, on a
 * new connection each (`new-connection`) or on one kept open and reopened
 * when it fails (`reused-connection`, `large`).
 */
export const runClient = async (options: {
  readonly port: number
  readonly kind: ClientKind
  readonly name: string
  readonly perSecond: number
  readonly until: number
  readonly ledger: Ledger
}): Promise<void> => {
  const shape = SHAPES[options.kind]
  let seq = 0
  let open: Conversation | undefined
  const connection = async () => {
    if (open === undefined) {
      open = await Conversation.greeted(options.port, BENCH_CLIENT)
      await open.ehlo("soak.localhost")
    }
    return open
  }
  await paced(options.perSecond, options.until, async () => {
    const key = `${options.name}-${Math.floor(seq / shape.perKey)}`
    const message = buildMessage({
      from: FROM,
      to: TO,
      subject: `soak ${options.kind} alert ${seq % 7}`,
      split: key,
      size: shape.size,
      seq: seq++
    })
    try {
      await (await connection()).send(FROM, [TO], message)
      options.ledger.record(key, "acknowledged", options.kind === "large")
    } catch (error) {
      options.ledger.record(key, outcomeOf(error))
      open?.destroy()
      open = undefined
    }
    if (options.kind === "new-connection" && open !== undefined) {
      await open.quit()
      open = undefined
    }
  })
  await open?.quit()
}

/** Kinds of garbage session. */
export const GARBAGE_KINDS = ["random bytes", "half-sent DATA", "dropped at once", "junk commands"] as const
export type GarbageKind = (typeof GARBAGE_KINDS)[number]

/** Connects, waits for the greeting at most 2 s, writes `parts` 20 ms apart, then drops the connection. */
const rawSession = async (port: number, parts: ReadonlyArray<Buffer | string>, waitGreeting: boolean): Promise<void> => {
  const conversation = await Conversation.open(port, { timeoutMs: 2_000 }).catch(() => undefined)
  if (conversation === undefined) return
  try {
    if (!waitGreeting) return
    await conversation.read().catch(() => undefined)
    for (const part of parts) {
      conversation.write(part)
      await sleep(20)
    }
  } finally {
    conversation.destroy()
  }
}

/** The bytes of one garbage session of this kind. */
const garbage = (kind: GarbageKind): ReadonlyArray<Buffer | string> => {
  switch (kind) {
    case "random bytes":
      return [randomBytes(512 + Math.floor(Math.random() * 4096))]
    case "half-sent DATA":
      return [
        "EHLO garbage.soak.localhost\r\n",
        `MAIL FROM:<${FROM}>\r\n`,
        `RCPT TO:<${TO}>\r\n`,
        "DATA\r\n",
        "Subject: never finished\r\nX-Failmail-Split: garbage\r\n\r\n",
        "a body that stops before its final dot\r\n".repeat(50)
      ]
    case "dropped at once":
      return []
    case "junk commands":
      return ["HELO\r\n", "MAIL FROM:<<<>>>\r\n", "RCPT TO:nobody\r\n", `XYZZY ${"A".repeat(2000)}\r\n`, "DATA\r\n", ".\r\n"]
  }
}

/** Runs garbage sessions, one after another with `pauseMs` between, until `until`; counts them by kind. */
export const runGarbage = async (options: {
  readonly port: number
  readonly until: number
  readonly pauseMs: number
  readonly counts: Map<GarbageKind, number>
}): Promise<void> => {
  for (let round = 0; now() < options.until; round++) {
    const kind = GARBAGE_KINDS[round % GARBAGE_KINDS.length] as GarbageKind
    await rawSession(options.port, garbage(kind), kind !== "dropped at once")
    options.counts.set(kind, (options.counts.get(kind) ?? 0) + 1)
    await sleep(options.pauseMs)
  }
}
