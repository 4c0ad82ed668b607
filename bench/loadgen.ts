/**
 * The Node load generator, used when postfix's `smtp-source` is not
 * installed: the same load shape (`sessions` concurrent clients, `messages`
 * in all, `size` bytes each, a new connection per message or reused ones).
 */
import { Conversation } from "../test/support/smtpClient.ts"
import { BENCH_CLIENT, buildMessage } from "./messages.ts"
import type { SourceLoad } from "./postfix-tools.ts"
import { now, withTimeout } from "./util.ts"

/** Runs the load; resolves with the wall-clock time it took (ms). */
export const runNodeLoad = async (load: SourceLoad): Promise<number> => {
  const from = "app@bench.localhost"
  const to = "ops@bench.localhost"
  const subject = load.subject
  const message = (seq: number) =>
    buildMessage({ from, to, size: load.size, seq, ...(subject === undefined ? {} : { subject }) })
  let next = 0
  const session = async () => {
    let open: Conversation | undefined
    try {
      while (next < load.messages) {
        const seq = next++
        if (open === undefined) {
          open = await Conversation.greeted(load.port, BENCH_CLIENT)
          await open.ehlo("bench.localhost")
        }
        await open.send(from, [to], message(seq))
        if (!load.reuse) {
          await open.quit()
          open = undefined
        }
      }
    } finally {
      await open?.quit()
    }
  }
  const started = now()
  await withTimeout(
    Promise.all(Array.from({ length: Math.max(1, load.sessions) }, session)),
    load.timeoutMs,
    "node load generator"
  )
  return now() - started
}
