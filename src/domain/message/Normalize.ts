/**
 * The `normalize` expression helper: a fingerprint of a line of text for
 * grouping, with the parts that vary between otherwise equal alerts (numbers,
 * ids, addresses, times, quoted values) replaced by placeholders, so
 * `timeout after 1523ms for user 42` and `timeout after 87ms for user 7`
 * give the same key.
 */

/** One hex group of an IPv6 address. */
const H6 = "[0-9a-f]{1,4}"

/** A dotted-quad IPv4 address. */
const V4 = String.raw`(?:\d{1,3}\.){3}\d{1,3}`

/**
 * An IPv6 address: eight full groups, or a `::`-compressed form with at least
 * one group (a bare `::` is punctuation), optionally ending in an IPv4 address.
 */
const V6 =
  `(?:(?:${H6}:){7}${H6}|(?:${H6}(?::${H6}){0,6})?::${H6}(?::${H6}){0,6}|${H6}(?::${H6}){0,6}::)(?::${V4})?`

/** Placeholder rules, applied in order: the most specific first. */
const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // E-mail addresses: `ops+alerts@mail.example.com`.
  [/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, "<email>"],
  // URLs with a scheme: `https://host/path?q=1`; trailing punctuation stays outside.
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]}]/gi, "<url>"],
  // UUIDs: `123e4567-e89b-12d3-a456-426614174000`.
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<uuid>"],
  // IP addresses with an optional port: `[::1]:8080`, `fe80::1`, `10.0.0.1:25`.
  [
    new RegExp(
      String.raw`\[${V6}\](?::\d{1,5})?` +
        String.raw`|(?<![\w:.])${V6}(?![\w:]|\.\d)` +
        String.raw`|(?<![\w.])${V4}(?::\d{1,5})?(?![\w]|\.\d)`,
      "gi"
    ),
    "<ip>"
  ],
  // Long hex ids: `0x`-prefixed, or 8+ hex digits with at least one digit and one letter
  // (a run of decimal digits alone is a number, so `12345678` and `42` still group together).
  [/\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, "<hex>"],
  // ISO 8601 dates with an optional time and zone: `2026-11-25`, `2026-11-25T09:03:00.5Z`.
  [/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b)?/g, "<time>"],
  // Times of day: `09:03`, `09:03:00`, `09:03:00.123`.
  [/\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b/g, "<time>"],
  // Durations, Go style and compound: `1523ms`, `1.5s`, `30s`, `5m`, `1h30m`, `5min` (µ/μ as escapes: see GoDuration).
  [/(?<![\w.])(?:\d+(?:\.\d+)?(?:ns|us|\u00b5s|\u03bcs|ms|mins?|secs?|hrs?|[smhd]))+(?!\w|\.\d)/g, "<duration>"],
  // Double-quoted strings, with backslash escapes: `"disk full"`.
  [/"(?:[^"\\\n]|\\.)*"/g, "<str>"],
  // Single-quoted strings; a quote inside a word (`don't`) is an apostrophe, not a quote.
  [/(?<![\w'])'[^'\n]*'(?![\w'])/g, "<str>"],
  // Numbers, signed and decimal: `42`, `-3`, `+0100`, `0.25`, `512` in `512MB`; not the digits of
  // identifiers (`db01`) or version strings (`1.2.3`).
  [/(?<![\w.])(?:[-+](?=\d))?\d+(?:\.\d+)?(?![\d.]*\.\d)/g, "<n>"],
  // Runs of whitespace (newlines included) become one space.
  [/\s+/g, " "]
]

/**
 * A fingerprint of `text` for grouping: e-mail addresses, URLs, UUIDs, IP
 * addresses, hex ids, dates and times, durations, quoted strings and numbers
 * replaced by `<email>`, `<url>`, `<uuid>`, `<ip>`, `<hex>`, `<time>`,
 * `<duration>`, `<str>` and `<n>`; whitespace collapsed and trimmed.
 */
export const normalize = (text: string): string =>
  RULES.reduce((acc, [pattern, placeholder]) => acc.replace(pattern, placeholder), text).trim()
