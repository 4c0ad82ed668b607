/** The alert messages the bench's clients send, and how long a client waits for a reply. */

/** The bench's clients wait up to 10 s for each reply (a loaded failmail may be slow, but never that slow). */
export const BENCH_CLIENT = { timeoutMs: 10_000 } as const

/** A message of about `size` bytes, with optional Subject and X-Failmail-Split headers. */
export const buildMessage = (options: {
  readonly from: string
  readonly to: string
  readonly subject?: string
  readonly split?: string
  readonly size: number
  readonly seq: number
}): Buffer => {
  const headers = [
    `From: <${options.from}>`,
    `To: <${options.to}>`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <bench.${process.pid}.${options.seq}@bench.localhost>`,
    ...(options.subject === undefined ? [] : [`Subject: ${options.subject}`]),
    ...(options.split === undefined ? [] : [`X-Failmail-Split: ${options.split}`])
  ].join("\r\n")
  const head = `${headers}\r\n\r\n`
  const lines: Array<string> = []
  let length = head.length
  for (let line = 1; length < options.size && line < 100_000; line++) {
    const text = `${line} ${"X".repeat(76)}`.slice(0, Math.max(1, Math.min(78, options.size - length - 2)))
    lines.push(text)
    length += text.length + 2
  }
  return Buffer.from(head + lines.join("\r\n") + "\r\n", "latin1")
}
