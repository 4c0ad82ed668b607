/**
 * Received messages as failmail sees them: the SMTP envelope, and the
 * decoded view that expressions and summaries read.
 */

/** The SMTP envelope of a received message (recipients after `--rewrite-*`). */
export interface Envelope {
  /** MAIL FROM address; `""` for the null sender `<>`. */
  readonly mailFrom: string
  /** RCPT TO addresses, as given (case kept). */
  readonly rcptTo: ReadonlyArray<string>
}

/**
 * The decoded fields of one message: what `--batch-expr` / `--group-expr`
 * see and what a summary shows. Built by `HeaderBlock.messageView` alone, so
 * the header fields are the same whether or not the body was decoded.
 */
export interface MessageView {
  /** Decoded Subject, `""` if absent. */
  readonly subject: string
  /** The From addresses in display form (`Name <address>`). */
  readonly from: string
  /** The To addresses in display form. */
  readonly to: string
  /** The Date header as written, `""` if absent. */
  readonly date: string
  /** Decoded text body (text/plain part, or text from HTML); `""` when no expression reads it. */
  readonly body: string
  /** Lower-cased header name → first value, unfolded and decoded, otherwise as written. */
  readonly headers: Readonly<Record<string, string>>
  readonly envelope: Envelope
}

/**
 * Whether `id` can be a spool id: 1 to 128 letters, digits, `-` and `_`,
 * starting with a letter or digit. Ids name files and appear in URLs, so
 * nothing else (no `/`, `.`, `%`) is ever taken for one.
 */
export const isSpoolId = (id: string): boolean => /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id)

/**
 * The id a store gives a new message: its arrival time (so ids sort by it),
 * who stored it (a process, a replica) and that one's count of messages.
 */
export const newSpoolId = (receivedAt: number, storedBy: string, serial: number): string =>
  `${receivedAt.toString().padStart(14, "0")}-${storedBy}-${serial.toString().padStart(8, "0")}`

/** Lower-cases an address for comparing recipients (`Ops@Example.COM` = `ops@example.com`). */
export const normalizeAddress = (address: string): string => address.trim().toLowerCase()

/**
 * What failmail keeps about a stored message while it is pending: small
 * (ids, keys, counts); the body stays on disk until a summary is rendered.
 */
export interface Received {
  /** Spool id. */
  readonly id: string
  /** When failmail stored the message (ms since the epoch). */
  readonly receivedAt: number
  readonly envelope: Envelope
  /** Rendered `--batch-expr`. */
  readonly batchKey: string
  /** Rendered `--group-expr`. */
  readonly groupKey: string
  /** Decoded Subject. */
  readonly subject: string
  /** Who sent it: envelope sender, or the From header for the null sender. */
  readonly sender: string
  /** Size of the raw message in bytes. */
  readonly size: number
}

/** The keys of a message under a given pair of expressions. */
export interface Keys {
  /** Identifies the expressions the keys were computed with (so a restart with new ones recomputes). */
  readonly fingerprint: string
  readonly batchKey: string
  readonly groupKey: string
}

/**
 * The pending form of a stored message (a spool record): its keys spelled
 * out, its body left on disk.
 */
export const receivedOf = (stored: Omit<Received, "batchKey" | "groupKey"> & { readonly keys: Keys }): Received => ({
  id: stored.id,
  receivedAt: stored.receivedAt,
  envelope: stored.envelope,
  batchKey: stored.keys.batchKey,
  groupKey: stored.keys.groupKey,
  subject: stored.subject,
  sender: stored.sender,
  size: stored.size
})
