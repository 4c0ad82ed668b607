/** Reading headers of raw messages (no side effects: the recorder process imports it too). */

/** The first value of a header of a raw message (unfolded, trimmed), `""` when absent. */
export const headerOf = (raw: Buffer, name: string): string => {
  const end = raw.indexOf("\r\n\r\n")
  const head = raw
    .subarray(0, end === -1 ? Math.min(raw.length, 64 * 1024) : end)
    .toString("latin1")
    .replace(/\r\n[ \t]+/g, " ")
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(head)
  return match?.[1]?.trim() ?? ""
}
