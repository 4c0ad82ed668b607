/**
 * Silent connections are shed under stress (Postfix's stress-adaptive
 * behaviour), over real sockets: every slot held by clients of two other
 * addresses (127.0.0.2, 127.0.0.3; each within its per-address share) that
 * never send a byte, or trickle a line a byte at a time, and a client of a
 * third address is served within 15 s. Without stress, a silent client
 * keeps its slot.
 */
import { Duration } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { deadUpstream, startFailmail, type Failmail } from "./support/failmail.ts"
import { Conversation } from "./support/smtpClient.ts"

const opened: Array<Conversation> = []
const running: Array<Failmail> = []
afterEach(async () => {
  for (const session of opened.splice(0)) session.destroy()
  for (const failmail of running.splice(0)) await failmail.dispose()
})

const started = async (maxConnections: number) => {
  const failmail = await startFailmail({ relayAddr: await deadUpstream(), maxConnections, lineTimeout: Duration.minutes(5) })
  running.push(failmail)
  return failmail
}

/** A connection from `address` that reads its greeting, then sends `sent` (nothing, or the start of a line) and nothing more. */
const holding = async (port: number, address: string, sent = ""): Promise<Conversation> => {
  const session = await Conversation.open(port, { localAddress: address })
  opened.push(session)
  expect((await session.read()).code).toBe(220)
  if (sent !== "") session.write(sent)
  return session
}

describe("under stress (every connection slot taken)", () => {
  it("silent and trickling clients of two addresses hold every slot: a client of a third address is served within 15 s", async () => {
    const failmail = await started(6)
    const holders = [
      await holding(failmail.port, "127.0.0.2"),
      await holding(failmail.port, "127.0.0.2"),
      await holding(failmail.port, "127.0.0.2", "EH"),
      await holding(failmail.port, "127.0.0.3"),
      await holding(failmail.port, "127.0.0.3"),
      await holding(failmail.port, "127.0.0.3", "NO")
    ]
    // The trickling ones go on sending a byte now and then, never ending their line.
    const trickle = setInterval(() => {
      for (const session of [holders[2], holders[5]]) session?.write("O")
    }, 1_000)
    try {
      const newcomer = await Conversation.open(failmail.port, { localAddress: "127.0.0.4" })
      opened.push(newcomer)
      expect((await newcomer.read(15_000)).code).toBe(220)
      expect((await newcomer.command("EHLO newcomer.example")).code).toBe(250)
    } finally {
      clearInterval(trickle)
    }
    // The held slots were shed with 421, a silent one among them.
    const shed = await holders[0]?.read(15_000)
    expect(shed?.code).toBe(421)
    expect(failmail.logs.join("\n")).toMatch(/level=WARN .*message="under stress: every connection slot taken/)
  }, 40_000)

  it("without stress a silent client keeps its slot past the stress timeout", async () => {
    const failmail = await started(6)
    const silent = await holding(failmail.port, "127.0.0.2")
    await new Promise((resolve) => setTimeout(resolve, 12_000))
    expect((await silent.command("NOOP")).code).toBe(250)
  }, 30_000)
})
