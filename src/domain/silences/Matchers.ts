/**
 * Matchers: regular expressions on a message's batch key, group key,
 * subject, sender and recipients, all of which must match. Silences and
 * expectations select messages with them. Pure: no I/O.
 */
import { Schema } from "effect"
import type { PendingMessage } from "../batching/Batching.ts"
import type { Received } from "../message/Message.ts"

/** The fields a matcher can test, in the order they are shown. */
export const MATCH_FIELDS = ["batch", "group", "subject", "from", "to"] as const

/** One field a matcher can test. */
export type MatchField = (typeof MATCH_FIELDS)[number]

/** Matchers as written: field → regular expression (JavaScript syntax, unanchored). */
export type Matchers = Partial<Record<MatchField, string>>

/** Matchers as they are kept in a state document. */
export const Stored = Schema.Struct({
  batch: Schema.optionalWith(Schema.String, { exact: true }),
  group: Schema.optionalWith(Schema.String, { exact: true }),
  subject: Schema.optionalWith(Schema.String, { exact: true }),
  from: Schema.optionalWith(Schema.String, { exact: true }),
  to: Schema.optionalWith(Schema.String, { exact: true })
})

/** What matchers are tested against. */
export interface MatchTarget {
  readonly batch: string
  readonly group: string
  readonly subject: string
  /** Envelope sender (the From header for the null sender). */
  readonly from: string
  /** Envelope recipients; `to` matches when any one of them does. */
  readonly to: ReadonlyArray<string>
}

/** A request field that is wrong, and why (an API answers 400 with both). */
export interface FieldError {
  readonly field: string
  readonly message: string
}

/** Compiled matchers: every one must match. */
export interface CompiledMatchers {
  readonly source: Matchers
  readonly tests: ReadonlyArray<readonly [MatchField, RegExp]>
}

/**
 * Checks and compiles matchers: at least one, only known fields, each a
 * regular expression that compiles. `field` names the request field in errors.
 */
export const compile = (matchers: Readonly<Record<string, string>>, field = "match"): CompiledMatchers | FieldError => {
  const entries = Object.entries(matchers)
  if (entries.length === 0) {
    return { field, message: `needs at least one matcher (${MATCH_FIELDS.join(", ")})` }
  }
  const tests: Array<readonly [MatchField, RegExp]> = []
  const source: Matchers = {}
  for (const [name, pattern] of entries) {
    if (!(MATCH_FIELDS as ReadonlyArray<string>).includes(name)) {
      return { field: `${field}.${name}`, message: `unknown field (use ${MATCH_FIELDS.join(", ")})` }
    }
    try {
      tests.push([name as MatchField, new RegExp(pattern)])
    } catch (error) {
      return { field: `${field}.${name}`, message: `not a regular expression: ${(error as Error).message}` }
    }
    source[name as MatchField] = pattern
  }
  return { source, tests }
}

/** Whether compile's answer is an error. */
export const isFieldError = (value: object): value is FieldError => "message" in value && "field" in value

/** Whether every matcher matches. */
export const matches = (compiled: CompiledMatchers, target: MatchTarget): boolean =>
  compiled.tests.every(([field, pattern]) =>
    field === "to" ? target.to.some((address) => pattern.test(address)) : pattern.test(target[field])
  )

/** What a received message is matched on. */
export const targetOfReceived = (message: Received): MatchTarget => ({
  batch: message.batchKey,
  group: message.groupKey,
  subject: message.subject,
  from: message.sender,
  to: message.envelope.rcptTo
})

/** What a pending message of batch `batchKey` is matched on. */
export const targetOfPending = (batchKey: string, message: PendingMessage): MatchTarget => ({
  batch: batchKey,
  group: message.groupKey,
  subject: message.subject,
  from: message.sender,
  to: message.recipients
})

/** A regular expression matching exactly `text`. */
export const exactly = (text: string): string => `^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`

/** Matchers as one line: `batch=~"^x$" subject=~"disk"`. */
export const describe = (matchers: Matchers): string =>
  MATCH_FIELDS.filter((field) => matchers[field] !== undefined)
    .map((field) => `${field}=~${JSON.stringify(matchers[field])}`)
    .join(" ")
