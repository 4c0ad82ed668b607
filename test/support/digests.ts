/**
 * What the recording relay received, as tests of many summaries read it:
 * each summary's time, message count and merged batches, parsed once.
 */
import { Effect } from "effect"
import { simpleParser } from "mailparser"
import { readHeaders } from "../../src/domain/message/HeaderBlock.ts"
import type { RecordingRelay } from "./pipeline.ts"

/** One relayed summary, as the tests read it. */
export interface Relayed {
  /** `Clock` time it reached the relay. */
  readonly at: number
  /** `X-Failmail-Messages`. */
  readonly messages: number
  /** `X-Failmail-Storm` (batches merged), 1 for an ordinary summary. */
  readonly batches: number
  readonly headers: Readonly<Record<string, string>>
  readonly raw: Buffer
}

const parsed = new WeakMap<object, Relayed>()

/** The summaries the relay delivered, in order (each parsed once). */
export const relayed = (relay: RecordingRelay): ReadonlyArray<Relayed> =>
  relay.sent.map((sent) => {
    const known = parsed.get(sent)
    if (known !== undefined) return known
    const headers = readHeaders(sent.raw)
    const summary: Relayed = {
      at: sent.at,
      messages: Number(headers["x-failmail-messages"]),
      batches: Number(headers["x-failmail-storm"] ?? "1"),
      headers,
      raw: sent.raw
    }
    parsed.set(sent, summary)
    return summary
  })

/** The decoded text part of a relayed summary (the raw one is quoted-printable when it holds a sparkline). */
export const textOf = (raw: Buffer): Effect.Effect<string> =>
  Effect.promise(() => simpleParser(raw)).pipe(Effect.map((parsed) => parsed.text ?? ""))

/**
 * The tokens (matches of the global `pattern`) of the messages a summary's
 * text holds, each once. Its `Stopped:` lines are left out: they name groups
 * of an earlier digest to the same recipients, not messages of this one.
 */
export const summarizedTokens = (text: string, pattern: RegExp): ReadonlyArray<string> => [
  ...new Set(
    text
      .split("\n")
      .filter((line) => !line.startsWith("Stopped: "))
      .flatMap((line) => line.match(pattern) ?? [])
  )
]
