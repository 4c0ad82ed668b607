/**
 * The SMTP listener end to end, over real sockets on 127.0.0.1: the whole
 * pipeline (`pipeline(config)`) relaying to a recording upstream, talked to
 * by nodemailer, swaks, smtp-source and raw `net.Socket` conversations.
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { Duration, Redacted } from "effect"
import nodemailer from "nodemailer"
import { afterAll, describe, expect, it, vi } from "vitest"
import * as Settings from "../src/domain/settings/Settings.ts"
import { removeCertificate, selfSignedCertificate } from "./support/certs.ts"
import { eventually, GATHER, settledSummaries, spoolFiles, startWithUpstream, summariesAtStop, type Failmail } from "./support/failmail.ts"
import { Conversation } from "./support/smtpClient.ts"

const run = promisify(execFile)

afterAll(() => removeCertificate())

/** nodemailer as an application uses it, plain SMTP. */
const client = (port: number, extra: Record<string, unknown> = {}) =>
  nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, ...extra })

const plainAuth = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64")

/** Opens a conversation, reads the 220 greeting and says EHLO. */
const session = async (port: number, helo = "client.example") => {
  const conversation = await Conversation.open(port)
  expect((await conversation.read()).code).toBe(220)
  const ehlo = await conversation.command(`EHLO ${helo}`)
  expect(ehlo.code).toBe(250)
  return { conversation, ehlo }
}

/** The keywords of an EHLO reply (first word of each line after the first). */
const keywords = (ehloText: string) =>
  ehloText
    .split("\n")
    .slice(1)
    .map((line) => line.slice(4).split(" ")[0] ?? "")

/** Sends one complete message in an open session; returns the final reply code. */
const transaction = async (conversation: Conversation, from: string, to: ReadonlyArray<string>, message: string | Buffer) => {
  expect((await conversation.command(`MAIL FROM:<${from}>`)).code).toBe(250)
  for (const recipient of to) expect((await conversation.command(`RCPT TO:<${recipient}>`)).code).toBe(250)
  expect((await conversation.command("DATA")).code).toBe(354)
  conversation.write(message)
  conversation.write("\r\n.\r\n")
  return (await conversation.read()).code
}

/**
 * Writes `chunk` every 20 ms until failmail cuts the conversation off: a 421
 * whose text contains `reason`, then the connection closed by failmail.
 */
const expectCutOffWhileWriting = async (conversation: Conversation, chunk: string, reason: string) => {
  const writing = setInterval(() => conversation.write(chunk), 20)
  try {
    const cutOff = await conversation.read(10_000)
    expect(cutOff.code).toBe(421)
    expect(cutOff.text).toContain(reason)
    await conversation.closedByPeer()
  } finally {
    clearInterval(writing)
  }
}

const alert = (subject: string, body = "something broke") =>
  `From: app@example.org\r\nTo: ops@example.com\r\nSubject: ${subject}\r\n\r\n${body}`

/**
 * The greeting of a new connection, read while no timer can fire (timers are
 * faked until it arrived): smtp-server's own pause before the greeting is a
 * timer, so a greeting that arrives at all came without one.
 */
const greetingWithoutTimers = async (port: number) => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] })
  try {
    const conversation = await Conversation.open(port)
    const greeting = await conversation.read()
    conversation.destroy()
    return greeting
  } finally {
    vi.useRealTimers()
  }
}

const expectSpoolEmpty = (failmail: Failmail) => expect(spoolFiles(failmail.config.messageStore)).toEqual([])

describe("greeting", () => {
  it("arrives at once, on every connection: no timer stands between the connect and the greeting", async () => {
    const { failmail } = await startWithUpstream()
    for (let i = 0; i < 20; i++) expect((await greetingWithoutTimers(failmail.port)).code).toBe(220)
  })

  it("an early talker gets the greeting, then its EHLO answered", async () => {
    const { failmail } = await startWithUpstream()
    const conversation = await Conversation.open(failmail.port, { onConnect: (socket) => socket.write("EHLO x\r\n") })
    const greeting = await conversation.read()
    expect(greeting.code).toBe(220)
    expect((await conversation.read()).code).toBe(250)
    await conversation.quit()
  })

  it("an early talker pipelining a whole transaction before the greeting is served in order", async () => {
    const { failmail, upstream } = await startWithUpstream()
    const conversation = await Conversation.open(failmail.port, {
      onConnect: (socket) =>
        socket.write(
          "EHLO early.example\r\nMAIL FROM:<app@example.org>\r\nRCPT TO:<ops@example.com>\r\nDATA\r\n" +
            `${alert("early bird")}\r\n.\r\nQUIT\r\n`
        )
    })
    const codes: Array<number> = []
    for (let i = 0; i < 7; i++) codes.push((await conversation.read()).code)
    expect(codes).toEqual([220, 250, 250, 250, 354, 250, 221])
    conversation.destroy()
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: early bird")
  })
})

describe("EHLO", () => {
  it("advertises SIZE, 8BITMIME, PIPELINING, SMTPUTF8; no STARTTLS or AUTH without TLS files and credentials", async () => {
    const { failmail } = await startWithUpstream({ maxMessageSize: 10_000 })
    const { conversation, ehlo } = await session(failmail.port)
    const words = keywords(ehlo.text)
    expect(words).toEqual(expect.arrayContaining(["SIZE", "8BITMIME", "PIPELINING", "SMTPUTF8"]))
    expect(ehlo.lines).toContain("250 SIZE 10000")
    expect(words).not.toContain("STARTTLS")
    expect(words).not.toContain("AUTH")
    expect((await conversation.command("STARTTLS")).code).toBeGreaterThanOrEqual(500)
    await conversation.quit()
  })

  it("advertises STARTTLS only when tls-cert and tls-key are set, and not again once encrypted", async () => {
    const cert = selfSignedCertificate()
    const { failmail } = await startWithUpstream({ tlsCert: cert.certFile, tlsKey: cert.keyFile })
    const { conversation, ehlo } = await session(failmail.port)
    expect(keywords(ehlo.text)).toContain("STARTTLS")
    expect(keywords(ehlo.text)).not.toContain("AUTH")
    expect((await conversation.startTls()).code).toBe(220)
    expect(conversation.encrypted).toBe(true)
    const again = await conversation.command("EHLO client.example")
    expect(again.code).toBe(250)
    expect(keywords(again.text)).not.toContain("STARTTLS")
    await conversation.quit()
  })

  it("advertises AUTH PLAIN LOGIN only with credentials", async () => {
    const { failmail } = await startWithUpstream({ credentials: Redacted.make("user:secret"), allowUnencryptedAuth: true })
    const { conversation, ehlo } = await session(failmail.port)
    const auth = ehlo.lines.find((line) => line.slice(4).startsWith("AUTH"))
    expect(auth?.slice(4).split(" ").slice(1).sort()).toEqual(["LOGIN", "PLAIN"])
    await conversation.quit()
  })
})

describe("liberal in what it accepts", () => {
  it("takes odd HELO names, ESMTP parameters, RSET, the null sender and several messages per connection", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    const { conversation } = await session(failmail.port, "3f2a9c0d1e")
    for (const name of ["3f2a9c0d1e", "1abc.example.com", "[127.0.0.1]", "[IPv6:::1]"]) {
      expect((await conversation.command(`EHLO ${name}`)).code, `EHLO ${name}`).toBe(250)
      expect((await conversation.command(`HELO ${name}`)).code, `HELO ${name}`).toBe(250)
    }
    expect((await conversation.command("EHLO 1abc.example.com")).code).toBe(250)

    // A transaction abandoned with RSET is not delivered.
    expect((await conversation.command("MAIL FROM:<app@example.org> SIZE=100 BODY=8BITMIME")).code).toBe(250)
    expect((await conversation.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await conversation.command("RSET")).code).toBe(250)

    expect(await transaction(conversation, "", ["ops@example.com"], alert("bounce-style alert"))).toBe(250)
    expect(
      await transaction(conversation, "app@example.org", ["ops@example.com"], Buffer.from(alert("8-bit alert", "Größe überschritten — ünïcödé"), "utf8"))
    ).toBe(250)

    // PIPELINING: a whole transaction in one write.
    conversation.write("MAIL FROM:<app@example.org> BODY=8BITMIME\r\nRCPT TO:<ops@example.com>\r\nDATA\r\n")
    expect([(await conversation.read()).code, (await conversation.read()).code, (await conversation.read()).code]).toEqual([250, 250, 354])
    conversation.write(`${alert("pipelined alert")}\r\n.\r\n`)
    expect((await conversation.read()).code).toBe(250)

    // SMTPUTF8: an internationalized sender.
    conversation.write(Buffer.from("MAIL FROM:<alërt@exämple.org> SMTPUTF8\r\n", "utf8"))
    expect((await conversation.read()).code).toBe(250)
    expect((await conversation.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await conversation.command("DATA")).code).toBe(354)
    conversation.write(Buffer.from(`${alert("utf8 sender alert")}\r\n.\r\n`, "utf8"))
    expect((await conversation.read()).code).toBe(250)
    await conversation.quit()

    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.messages).toBe(4)
    expect(summary?.groups).toBe(4)
    expect(summary?.subject).toBe("[failmail] 4 instances of 4 messages")
    expect(summary?.delivery.to).toEqual(["ops@example.com"])
    const text = summary?.mail.text ?? ""
    for (const subject of ["bounce-style alert", "8-bit alert", "pipelined alert", "utf8 sender alert"]) expect(text).toContain(subject)
    expect(text).toContain("Größe überschritten — ünïcödé")
    expect(text).toContain("alërt@exämple.org")
    expectSpoolEmpty(failmail)
  })
})

describe("AUTH", () => {
  it("with credentials: 530 before AUTH, 535 for a wrong password, PLAIN and LOGIN succeed", async () => {
    const { failmail, upstream } = await startWithUpstream({ ...GATHER, credentials: Redacted.make("user:secret"), allowUnencryptedAuth: true })
    const { conversation } = await session(failmail.port)
    expect((await conversation.command("MAIL FROM:<app@example.org>")).code).toBe(530)
    expect((await conversation.command(`AUTH PLAIN ${plainAuth("user", "wrong")}`)).code).toBe(535)
    expect((await conversation.command(`AUTH PLAIN ${plainAuth("someone", "secret")}`)).code).toBe(535)
    expect((await conversation.command("RCPT TO:<ops@example.com>")).code).toBe(530)
    expect((await conversation.command(`AUTH PLAIN ${plainAuth("user", "secret")}`)).code).toBe(235)
    expect(await transaction(conversation, "app@example.org", ["ops@example.com"], alert("raw plain"))).toBe(250)
    await conversation.quit()

    // AUTH LOGIN by hand.
    const login = await session(failmail.port)
    expect((await login.conversation.command("AUTH LOGIN")).code).toBe(334)
    expect((await login.conversation.command(Buffer.from("user").toString("base64"))).code).toBe(334)
    expect((await login.conversation.command(Buffer.from("secret").toString("base64"))).code).toBe(235)
    await login.conversation.quit()

    // nodemailer with each mechanism, and without credentials.
    for (const authMethod of ["PLAIN", "LOGIN"]) {
      const transport = client(failmail.port, { auth: { user: "user", pass: "secret" }, authMethod })
      await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: `nodemailer ${authMethod}`, text: "x" })
      transport.close()
    }
    const anonymous = client(failmail.port)
    await expect(
      anonymous.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "anonymous", text: "x" })
    ).rejects.toMatchObject({ responseCode: 530 })
    const wrong = client(failmail.port, { auth: { user: "user", pass: "nope" } })
    await expect(
      wrong.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "wrong password", text: "x" })
    ).rejects.toMatchObject({ responseCode: 535 })
    anonymous.close()
    wrong.close()

    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.messages).toBe(3)
    expect(summary?.subject).toBe("[failmail] 3 instances of 3 messages")
  })

  it("without --allow-unencrypted-auth and without TLS, AUTH is refused with 538 and mail still needs AUTH", async () => {
    const { failmail, upstream } = await startWithUpstream({ credentials: Redacted.make("user:secret") })
    const { conversation } = await session(failmail.port)
    expect((await conversation.command(`AUTH PLAIN ${plainAuth("user", "secret")}`)).code).toBe(538)
    expect((await conversation.command("AUTH LOGIN")).code).toBe(334)
    expect((await conversation.command(Buffer.from("user").toString("base64"))).code).toBe(334)
    expect((await conversation.command(Buffer.from("secret").toString("base64"))).code).toBe(538)
    expect((await conversation.command("MAIL FROM:<app@example.org>")).code).toBe(530)
    await conversation.quit()
    const transport = client(failmail.port, { auth: { user: "user", pass: "secret" } })
    await expect(
      transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "plaintext auth", text: "x" })
    ).rejects.toMatchObject({ responseCode: 538 })
    transport.close()
    expect(upstream.deliveries).toEqual([])
    expectSpoolEmpty(failmail)
  })

  it("with TLS files but before STARTTLS, AUTH gets 538; after STARTTLS it succeeds", async () => {
    const cert = selfSignedCertificate()
    const { failmail, upstream } = await startWithUpstream({ credentials: Redacted.make("user:secret"), tlsCert: cert.certFile, tlsKey: cert.keyFile })
    const { conversation } = await session(failmail.port)
    expect((await conversation.command(`AUTH PLAIN ${plainAuth("user", "secret")}`)).code).toBe(538)
    expect((await conversation.startTls()).code).toBe(220)
    expect((await conversation.command("EHLO client.example")).code).toBe(250)
    expect((await conversation.command(`AUTH PLAIN ${plainAuth("user", "secret")}`)).code).toBe(235)
    expect(await transaction(conversation, "app@example.org", ["ops@example.com"], alert("after starttls"))).toBe(250)
    await conversation.quit()
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: after starttls")
  })
})

describe("TLS", () => {
  it("STARTTLS with a self-signed certificate (nodemailer requireTLS)", async () => {
    const cert = selfSignedCertificate()
    const { failmail, upstream } = await startWithUpstream({ tlsCert: cert.certFile, tlsKey: cert.keyFile })
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: failmail.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false }
    })
    const info = await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "over starttls", text: "secret stuff" })
    transport.close()
    expect(info.accepted).toEqual(["ops@example.com"])
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: over starttls")
  })

  it("implicit TLS with --ssl (nodemailer secure), with AUTH and without --allow-unencrypted-auth", async () => {
    const cert = selfSignedCertificate()
    const { failmail, upstream } = await startWithUpstream({
      ssl: true,
      tlsCert: cert.certFile,
      tlsKey: cert.keyFile,
      credentials: Redacted.make("user:secret")
    })
    const raw = await Conversation.open(failmail.port, { tls: true })
    expect((await raw.read()).code).toBe(220)
    const ehlo = await raw.command("EHLO client.example")
    expect(keywords(ehlo.text)).not.toContain("STARTTLS")
    expect(keywords(ehlo.text)).toContain("AUTH")
    await raw.quit()
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: failmail.port,
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "user", pass: "secret" }
    })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "over implicit tls", text: "x" })
    transport.close()
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: over implicit tls")
  })
})

describe("limits and misbehaving clients", () => {
  it("552 for a message over --max-message-size; the connection keeps working", async () => {
    const { failmail, upstream } = await startWithUpstream({ ...GATHER, maxMessageSize: 10_000 })
    const { conversation } = await session(failmail.port)
    expect((await conversation.command("MAIL FROM:<app@example.org> SIZE=20000")).code).toBe(552)
    const big = alert("too big", `${"x".repeat(76)}\r\n`.repeat(260))
    expect(await transaction(conversation, "app@example.org", ["ops@example.com"], big)).toBe(552)
    expect(await transaction(conversation, "app@example.org", ["ops@example.com"], alert("small enough"))).toBe(250)
    await conversation.quit()

    const transport = client(failmail.port)
    await expect(
      transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "too big too", text: "y".repeat(20_000) })
    ).rejects.toMatchObject({ responseCode: 552 })
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "small enough", text: "z" })
    transport.close()

    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.subject).toBe("[failmail] 2 instances: small enough")
    expect(summary?.messages).toBe(2)
  })

  it("--max-connections 2: a third concurrent client waits for a slot and is greeted once one frees up; beyond as many waiting, 421 at once", async () => {
    const { failmail } = await startWithUpstream({ maxConnections: 2, maxConnectionsPerIp: Settings.shareCount(0) })
    const first = await session(failmail.port)
    const second = await session(failmail.port)
    const third = await Conversation.open(failmail.port)
    const fourth = await Conversation.open(failmail.port)
    // Two wait (as many as there are slots); the next is refused at once.
    const fifth = await Conversation.open(failmail.port)
    expect((await fifth.read()).code).toBe(421)
    await fifth.closedByPeer()
    await first.conversation.quit()
    expect((await third.read()).code).toBe(220)
    expect((await third.command("EHLO client.example")).code).toBe(250)
    await third.quit()
    expect((await fourth.read()).code).toBe(220)
    await fourth.quit()
    await second.conversation.quit()
  })

  it("--line-timeout: a client trickling a line one byte at a time, never a newline, gets 421 and is closed; others are served", async () => {
    const { failmail, upstream } = await startWithUpstream({ lineTimeout: Duration.millis(300) })
    const trickler = await Conversation.open(failmail.port)
    expect((await trickler.read()).code).toBe(220)
    // Each byte comes well within the idle timeout, which restarts on every byte; the line never ends.
    await expectCutOffWhileWriting(trickler, "x", "line not completed in time")

    const transport = client(failmail.port)
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "served meanwhile", text: "ok" })
    transport.close()
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: served meanwhile")
  })

  it("--line-timeout holds after STARTTLS too (the encrypted session gets a new parser)", async () => {
    const cert = selfSignedCertificate()
    const { failmail } = await startWithUpstream({ tlsCert: cert.certFile, tlsKey: cert.keyFile, lineTimeout: Duration.millis(300) })
    const { conversation } = await session(failmail.port)
    expect((await conversation.startTls()).code).toBe(220)
    expect(conversation.encrypted).toBe(true)
    await expectCutOffWhileWriting(conversation, "x", "line not completed in time")
  })

  it("--data-timeout: a message whose lines keep coming but never end gets 421 and nothing is stored", async () => {
    const { failmail, upstream } = await startWithUpstream({ dataTimeout: Duration.millis(500) })
    const { conversation } = await session(failmail.port)
    expect((await conversation.command("MAIL FROM:<app@example.org>")).code).toBe(250)
    expect((await conversation.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await conversation.command("DATA")).code).toBe(354)
    conversation.write("Subject: endless\r\n\r\n")
    // Whole lines, so neither the idle timer nor --line-timeout ever fires: only the DATA limit can.
    await expectCutOffWhileWriting(conversation, "one more line\r\n", "message not received in time")
    expectSpoolEmpty(failmail)

    const transport = client(failmail.port)
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "after the endless one", text: "ok" })
    transport.close()
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: after the endless one")
  })

  it("--max-connections-per-ip 2: a third connection from one address gets 421, another address is served", async () => {
    const { failmail, upstream } = await startWithUpstream({ maxConnectionsPerIp: Settings.shareCount(2) })
    const first = await session(failmail.port)
    const second = await session(failmail.port)
    const third = await Conversation.open(failmail.port)
    const refused = await third.read()
    expect(refused.code).toBe(421)
    expect(refused.text).toContain("Too many connections from your address")
    await third.closedByPeer()

    // Every 127.x address is loopback: 127.0.0.2 is another client host.
    const other = await Conversation.open(failmail.port, { localAddress: "127.0.0.2" })
    expect((await other.read()).code).toBe(220)
    expect((await other.command("EHLO other.example")).code).toBe(250)
    expect(await transaction(other, "app@example.org", ["ops@example.com"], alert("from another host"))).toBe(250)
    await other.quit()

    // A slot of the first address, once freed, is its own again.
    await first.conversation.quit()
    const fourth = await eventually("a slot of 127.0.0.1 to free up", async () => {
      const attempt = await Conversation.open(failmail.port)
      if ((await attempt.read()).code === 220) return attempt
      attempt.destroy()
      return undefined
    })
    expect((await fourth.command("EHLO client.example")).code).toBe(250)
    await fourth.quit()
    await second.conversation.quit()

    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: from another host")
  })

  it("--max-recipients 3: each RCPT TO beyond it gets 452, the message goes to the accepted ones", async () => {
    const { failmail, upstream } = await startWithUpstream({ maxRecipients: 3 })
    const { conversation } = await session(failmail.port)
    expect((await conversation.command("MAIL FROM:<app@example.org>")).code).toBe(250)
    for (const name of ["a", "b", "c"]) expect((await conversation.command(`RCPT TO:<${name}@example.com>`)).code).toBe(250)
    for (const name of ["d", "e"]) {
      const refused = await conversation.command(`RCPT TO:<${name}@example.com>`)
      expect(refused.code).toBe(452)
      expect(refused.text).toMatch(/too many recipients/i)
    }
    expect((await conversation.command("DATA")).code).toBe(354)
    expect((await conversation.command(`${alert("fan out")}\r\n.`)).code).toBe(250)
    await conversation.quit()

    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: fan out")
    expect([...(summary?.delivery.to ?? [])].sort()).toEqual(["a@example.com", "b@example.com", "c@example.com"])
  })

  it("--max-recipients with swaks: the recipients beyond the cap are refused with 452, the message still goes", async () => {
    const { failmail, upstream } = await startWithUpstream({ maxRecipients: 2 })
    const { stdout } = await run(
      "swaks",
      ["--server", `127.0.0.1:${failmail.port}`, "--to", "a@example.com,b@example.com,c@example.com", "--from", "app@example.org",
        "--header", "Subject: capped", "--body", "hi", "--timeout", "10"],
      { timeout: 15_000 }
    )
    expect(stdout).toMatch(/<\*\* +452 .*too many recipients/i)
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect([...(summary?.delivery.to ?? [])].sort()).toEqual(["a@example.com", "b@example.com"])
  })

  it("answers garbage and binary junk with 5xx and keeps serving other clients", async () => {
    const { failmail, upstream } = await startWithUpstream()
    const junk = await Conversation.open(failmail.port)
    expect((await junk.read()).code).toBe(220)
    expect((await junk.command("FOO bar")).code).toBeGreaterThanOrEqual(500)
    junk.write(Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x80, 0x1b, 0x5b, 0x0d, 0x0a]))
    expect((await junk.read()).code).toBeGreaterThanOrEqual(500)
    expect((await junk.command("MAIL FROM:<app@example.org>")).code).toBe(503)
    expect((await junk.command("EHLO")).code).toBe(501)

    const transport = client(failmail.port)
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "still served", text: "ok" })
    transport.close()

    // The junk connection still works too.
    expect((await junk.command("EHLO junk.example")).code).toBe(250)
    await junk.quit()

    // A client that floods junk without a line end is cut off, not the server.
    const flood = await Conversation.open(failmail.port)
    expect((await flood.read()).code).toBe(220)
    flood.write(Buffer.alloc(64 * 1024, 0xaa))
    expect((await flood.read()).code).toBe(421)
    await flood.closedByPeer()

    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: still served")
  })

  it("a client that disconnects mid-DATA loses nothing of other clients' mail and leaves no spool file", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    const quitter = await session(failmail.port)
    expect((await quitter.conversation.command("MAIL FROM:<app@example.org>")).code).toBe(250)
    expect((await quitter.conversation.command("RCPT TO:<ops@example.com>")).code).toBe(250)
    expect((await quitter.conversation.command("DATA")).code).toBe(354)
    quitter.conversation.write("From: app@example.org\r\nSubject: half a message\r\n\r\nthe first half")

    const transport = client(failmail.port)
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "whole message", text: "all of it" })
    quitter.conversation.destroy()
    await transport.sendMail({ from: "app@example.org", to: "ops@example.com", subject: "whole message", text: "all of it again" })
    transport.close()

    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.subject).toBe("[failmail] 2 instances: whole message")
    expect(summary?.mail.text ?? "").not.toContain("half a message")
    expectSpoolEmpty(failmail)
  })
})

describe("--debug-receiver", () => {
  it("logs each connection's conversation, both directions, one line per event", async () => {
    const { failmail } = await startWithUpstream({ debugReceiver: true })
    const { conversation } = await session(failmail.port)
    await transaction(conversation, "app@example.org", ["ops@example.com"], alert("logged"))
    await conversation.quit()
    // Each line is about its connection: component=smtp and smtp-server's connection id as fields.
    const connectionOf = (line: string) => (/ component=smtp\b/.test(line) ? / connection=(\w+)/.exec(line)?.[1] : undefined)
    const lines = failmail.logs.filter((line) => connectionOf(line) !== undefined)
    const command = lines.find((line) => line.includes('message="C: MAIL FROM:<app@example.org>"'))
    const answer = lines.find((line) => line.includes('message="S: 250 Ok: stored"'))
    expect(command).toBeDefined()
    expect(answer).toBeDefined()
    expect(connectionOf(answer ?? "")).toBe(connectionOf(command ?? ""))
    expect(lines.some((line) => line.includes("%s"))).toBe(false)
  })
})

describe("--proxy-protocol", () => {
  /** A connection from the load balancer (127.0.0.1) that says, in a PROXY v1 header, it carries `client`; resolves with the first reply. */
  const throughBalancer = async (port: number, client: string) => {
    const conversation = await Conversation.open(port)
    conversation.write(`PROXY TCP4 ${client} 127.0.0.1 40000 25\r\n`)
    return { conversation, greeting: await conversation.read() }
  }

  it("the clients a trusted balancer names count as themselves: --max-connections-per-ip holds per client, and the log names the client", async () => {
    const { failmail, upstream } = await startWithUpstream({
      proxyProtocol: ["127.0.0.1"],
      maxConnectionsPerIp: Settings.shareCount(1)
    })
    const first = await throughBalancer(failmail.port, "203.0.113.7")
    expect(first.greeting.code).toBe(220)
    const sameClient = await throughBalancer(failmail.port, "203.0.113.7")
    expect(sameClient.greeting.code).toBe(421)
    expect(failmail.logs.some((line) => line.includes("refused 203.0.113.7: it holds 1 connections"))).toBe(true)
    await sameClient.conversation.closedByPeer()

    // Another client behind the same balancer has a slot of its own, and its mail goes through.
    const other = await throughBalancer(failmail.port, "203.0.113.8")
    expect(other.greeting.code).toBe(220)
    expect((await other.conversation.command("EHLO app.example")).code).toBe(250)
    expect(await transaction(other.conversation, "app@example.org", ["ops@example.com"], alert("behind the balancer"))).toBe(250)
    await other.conversation.quit()
    await first.conversation.quit()
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: behind the balancer")
  })

  it("a peer not listed speaks plain SMTP; a listed one that sends no header is refused", async () => {
    const { failmail } = await startWithUpstream({ proxyProtocol: ["127.0.0.1"] })
    const direct = await Conversation.open(failmail.port, { localAddress: "127.0.0.2" })
    expect((await direct.read()).code).toBe(220)
    expect((await direct.command("EHLO direct.example")).code).toBe(250)
    await direct.quit()

    const headerless = await Conversation.open(failmail.port)
    headerless.write("EHLO sneaky.example\r\n")
    const answer = await headerless.read()
    expect(answer.code).not.toBe(220)
    expect(answer.text).toContain("Invalid PROXY header")
    await headerless.closedByPeer()
  })
})

describe("other real clients", () => {
  it("swaks: one message arrives summarized", async () => {
    const { failmail, upstream } = await startWithUpstream()
    const { stdout } = await run(
      "swaks",
      ["--server", `127.0.0.1:${failmail.port}`, "--to", "ops@example.com", "--from", "app@example.org", "--header", "Subject: x", "--body", "hi", "--timeout", "10"],
      { timeout: 15_000 }
    )
    expect(stdout).toMatch(/<- {2}250 /)
    const [summary] = await settledSummaries(upstream, failmail, 1)
    expect(summary?.subject).toBe("[failmail] 1 instance: x")
    expect(summary?.delivery.to).toEqual(["ops@example.com"])
    expect(summary?.mail.text ?? "").toContain("hi")
    expectSpoolEmpty(failmail)
  })

  it("Python's logging SMTPHandler: records with long lines (quoted-printable) group by their decoded body", async () => {
    const { failmail, upstream } = await startWithUpstream({ ...GATHER, groupExpr: "{{normalize body}}" })
    // One connection per record, sent synchronously, a fixed subject; lines over 78 characters
    // arrive quoted-printable with soft line breaks.
    const script = [
      "import logging, logging.handlers, sys",
      "handler = logging.handlers.SMTPHandler(('127.0.0.1', int(sys.argv[1])), 'app@example.org', ['ops@example.com'], 'Error in app')",
      "log = logging.getLogger('app')",
      "log.addHandler(handler)",
      "for n in range(3): log.error('timeout after %dms for user %d ' % (1500 + n, 40 + n) + 'x' * 120)",
      "log.error('disk full on db1')"
    ].join("\n")
    await run("/usr/bin/python3", ["-c", script, String(failmail.port)], { timeout: 15_000 })
    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest).toHaveLength(0)
    expect(summary).toMatchObject({ subject: "[failmail] 4 instances of 2 messages", messages: 4, groups: 2 })
    const text = summary?.mail.text ?? ""
    expect(text).toContain(`timeout after 1502ms for user 42 ${"x".repeat(120)}`)
    expect(text).toMatch(/Message group 1 of 2: 3 instances/)
    expect(text).toContain("disk full on db1")
  })

  it("smtp-source: 40 messages over 4 sessions arrive in one summary", async () => {
    const { failmail, upstream } = await startWithUpstream(GATHER)
    await run(
      "smtp-source",
      ["-m", "40", "-s", "4", "-l", "512", "-S", "load test", "-f", "app@example.org", "-t", "ops@example.com", `127.0.0.1:${failmail.port}`],
      { timeout: 15_000 }
    )
    const [summary, ...rest] = await summariesAtStop(upstream, failmail)
    expect(rest.map((extra) => extra.subject)).toEqual([])
    expect(summary?.messages).toBe(40)
    expect(summary?.subject).toBe("[failmail] 40 instances: load test")
  })
})
