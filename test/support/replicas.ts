/**
 * Several built failmails (`node dist/main.js`) sharing one PostgreSQL
 * database, as an operator runs replicas: each on its own SMTP port, its
 * HTTP on a fixed free port of 127.0.0.1 (the address the others forward
 * the dashboard and API to), all relaying to one upstream. Mail goes in as
 * numbered tokens (`[m-00042]`), so what the upstream received can be
 * checked message by message.
 */
import * as net from "node:net"
import * as path from "node:path"
import { simpleParser } from "mailparser"
import nodemailer from "nodemailer"
import { type Child, launch, ready, smtpPortOf } from "./daemon.ts"
import { summarizedTokens } from "./digests.ts"
import { tempDir } from "./tempdir.ts"
import type { Upstream } from "./upstream.ts"

/** A port that was free a moment ago on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** One running replica. */
export interface Replica {
  readonly child: Child
  readonly httpPort: number
  /** Its SMTP port (known once it is ready). */
  readonly smtpPort: () => number
}

/** Launches a replica on the database at `url`, relaying to `upstream`; resolves at once (see {@link readyReplica}). */
export const launchReplica = async (url: string, upstream: Upstream, extra: ReadonlyArray<string> = []): Promise<Replica> => {
  const dir = tempDir("failmail-replica-")
  const httpPort = await freePort()
  const child = launch(
    [
      `--store=${url}`,
      "--bind-addr=127.0.0.1:0",
      `--bind-http=127.0.0.1:${httpPort}`,
      `--relay-addr=${upstream.address}`,
      `--message-store=${path.join(dir, "spool")}`,
      `--fail-dir=${path.join(dir, "failed")}`,
      ...extra
    ],
    dir
  )
  return { child, httpPort, smtpPort: () => smtpPortOf(child) }
}

/** Launches a replica and waits until it is ready. */
export const readyReplica = async (url: string, upstream: Upstream, extra: ReadonlyArray<string> = []): Promise<Replica> => {
  const replica = await launchReplica(url, upstream, extra)
  await ready(replica.child)
  return replica
}

/** Whether `replica` says (last) that it is the sender. */
export const isSender = (replica: Pick<Replica, "child">): boolean => {
  const output = replica.child.output()
  return output.lastIndexOf("this replica is the sender now") > output.lastIndexOf("this replica stops sending")
}

/** The token of message `n`. */
export const token = (n: number): string => `[m-${n.toString().padStart(5, "0")}]`

/** What one message sent gave: 250 (acknowledged), or the SMTP code of the refusal (0: no SMTP answer at all). */
export const sendToken = async (replica: Replica, n: number, options: { readonly subject?: string; readonly batch?: string } = {}): Promise<number> => {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: replica.smtpPort(), secure: false, ignoreTLS: true })
  try {
    await transport.sendMail({
      from: "app@example.org",
      to: "ops@example.com",
      subject: `${options.subject ?? "alert"} ${token(n)}`,
      text: `message ${token(n)}`,
      headers: options.batch === undefined ? {} : { "X-Failmail-Split": options.batch }
    })
    return 250
  } catch (error) {
    return (error as { responseCode?: number }).responseCode ?? 0
  } finally {
    transport.close()
  }
}

/** A summary as the upstream received it: its Message-ID, batch, text and the tokens of the messages it holds (each once). */
export interface Digest {
  readonly messageId: string
  readonly batch: string
  readonly text: string
  readonly tokens: ReadonlyArray<string>
}

/** The summaries the upstream received so far. */
export const digestsOf = (upstream: Upstream): Promise<ReadonlyArray<Digest>> =>
  Promise.all(
    upstream.deliveries.map(async (delivery) => {
      const mail = await simpleParser(delivery.raw)
      const text = mail.text ?? ""
      const batch = mail.headers.get("x-failmail-batch")
      return {
        messageId: mail.messageId ?? "",
        batch: typeof batch === "string" ? batch : "",
        text,
        tokens: summarizedTokens(text, /\[m-\d{5}\]/g)
      }
    })
  )

/** How the acknowledged tokens were summarized. */
export interface Accounting {
  /** Acknowledged tokens in no summary. */
  readonly lost: ReadonlyArray<string>
  /** Tokens in several summaries that do not all share one Message-ID (two different summaries of one message). */
  readonly twice: ReadonlyArray<string>
  /** Tokens in several summaries that share one Message-ID (a summary sent again after an ambiguous relay). */
  readonly resent: ReadonlyArray<string>
}

/** Checks each acknowledged token against the summaries. */
export const account = (acknowledged: ReadonlyArray<string>, digests: ReadonlyArray<Digest>): Accounting => {
  const holders = new Map<string, Array<Digest>>()
  for (const digest of digests) for (const held of digest.tokens) holders.set(held, [...(holders.get(held) ?? []), digest])
  const several = [...holders.entries()].filter(([, list]) => list.length > 1)
  return {
    lost: acknowledged.filter((acked) => !holders.has(acked)),
    twice: several.filter(([, list]) => new Set(list.map((digest) => digest.messageId)).size > 1).map(([held]) => held),
    resent: several.filter(([, list]) => new Set(list.map((digest) => digest.messageId)).size === 1).map(([held]) => held)
  }
}

/** GETs `route` of a replica's HTTP as JSON (status and body). */
export const getJson = async (replica: Replica, route: string): Promise<{ readonly status: number; readonly body: unknown }> => {
  const answer = await fetch(`http://127.0.0.1:${replica.httpPort}${route}`)
  const text = await answer.text()
  return { status: answer.status, body: text === "" ? undefined : (JSON.parse(text) as unknown) }
}
