/**
 * Runs the whole failmail pipeline (`pipeline(config)`) inside a test, on
 * 127.0.0.1 port 0, with its spool and maildirs in a temp dir, plus the small
 * tools end-to-end tests need: polling with a deadline, maildir listings
 * (the raw SMTP client is `smtpClient.ts`, temp folders `tempdir.ts`).
 *
 * Logs are captured (see `logs`); set `FAILMAIL_TEST_LOGS=1` to also see them.
 */
import { Context, Duration, Effect, Exit, Layer, Logger, Scope } from "effect"
import { simpleParser, type ParsedMail } from "mailparser"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { expect, onTestFinished } from "vitest"
import * as Logging from "../../src/layers/Logging.ts"
import { pipeline } from "../../src/layers/Main.ts"
import type { RunningConfig } from "../../src/services/runtime/AppConfig.ts"
import { Http } from "../../src/services/http/Http.ts"
import { SmtpListener } from "../../src/services/smtp/SmtpListener.ts"
import { startUpstream, type Delivery, type Upstream, type UpstreamOptions } from "./upstream.ts"
import { QUICK, testConfig } from "./config.ts"
import { heldIn, leftoversIn } from "./spool.ts"
import { tempDir } from "./tempdir.ts"

/** A failmail running in this process. */
export interface Failmail {
  /** The bound SMTP port. */
  readonly port: number
  /** The bound HTTP port (0 while `bindHttp` is empty, the default here). */
  readonly httpPort: number
  readonly config: RunningConfig
  /** The temp dir holding the spool (`spool/`) and the fail-dir (`failed/`). */
  readonly dir: string
  /** Log lines so far, in `config.logFormat` (logfmt unless a test asks for JSON). */
  readonly logs: Array<string>
  /** Stops failmail (listener, then a final flush of pending batches), as SIGTERM would. */
  readonly close: () => Promise<void>
  /** `close`, then removes the temp dir. */
  readonly dispose: () => Promise<void>
}

/** Settings a test may override. `relayAddr` is required: where the upstream is. */
export type Overrides = Partial<RunningConfig> & { readonly relayAddr: string }

/**
 * For tests that need several messages, sent one after the other, in one
 * summary: batches wait an hour, so nothing is summarized until failmail
 * stops ({@link summariesAtStop}), however slowly the messages arrive (the
 * 300 ms default is for single-message tests).
 */
export const GATHER = { waitPeriod: Duration.hours(1), maxWait: Duration.hours(1) } as const

/** Builds and starts `pipeline(config)`; resolves once the listener is bound. */
export const startFailmail = async (overrides: Overrides | ((dir: string) => Overrides)): Promise<Failmail> => {
  const dir = tempDir("failmail-e2e-")
  const config = testConfig(dir, { ...QUICK, ...(typeof overrides === "function" ? overrides(dir) : overrides) })
  const logs: Array<string> = []
  const echo = process.env["FAILMAIL_TEST_LOGS"] === "1"
  const capture = Logging.lineLogger(config.logFormat).pipe(
    Logger.map((line) => {
      logs.push(line)
      if (echo) process.stderr.write(line + "\n")
    })
  )
  const layer = pipeline(config).pipe(Layer.provide(Logger.replace(Logger.defaultLogger, capture)))
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(Layer.toRuntime(layer), scope))
  let closed: Promise<void> | undefined
  const close = () => (closed ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  if (Exit.isFailure(exit)) {
    await close()
    fs.rmSync(dir, { recursive: true, force: true })
    throw new Error(`failmail did not start: ${String(exit.cause)}\n${logs.join("\n")}`)
  }
  const smtpListener = Context.get(exit.value.context, SmtpListener)
  return {
    port: smtpListener.port,
    httpPort: Context.get(exit.value.context, Http).port,
    config,
    dir,
    logs,
    close,
    dispose: async () => {
      await close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * An upstream that is down: a listener on 127.0.0.1 that drops every
 * connection at once, so each relay attempt fails (a transient error, as a
 * refused connection is). It holds its port until the test ends, so no other
 * process can take it meanwhile. Returns its `host:port`.
 */
export const deadUpstream = async (): Promise<string> => {
  const server = net.createServer((socket) => socket.destroy())
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

/**
 * The TCP port process `pid` listens on, once it does: for a peer started
 * on port 0, found through `/proc` (the socket inodes among its descriptors,
 * matched against the listening sockets in `/proc/<pid>/net/tcp`).
 */
export const listeningPortOf = (pid: number): Promise<number> =>
  eventually(`process ${pid} listening`, () => {
    const inodes = new Set(
      fs
        .readdirSync(`/proc/${pid}/fd`)
        .map((fd) => /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1])
        .filter((inode) => inode !== undefined)
    )
    for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/)
      if (state === "0A" && inode !== undefined && inodes.has(inode)) return Number.parseInt(local?.split(":")[1] ?? "", 16)
    }
    return undefined
  })

/**
 * Polls `check` every few milliseconds until it returns something other than
 * `undefined`/`false`, or fails after `timeoutMs` with `what` and the last error.
 */
export const eventually = async <A>(
  what: string,
  check: () => A | undefined | false | Promise<A | undefined | false>,
  timeoutMs = 5_000,
  intervalMs = 10
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (true) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? "" : `: ${String(lastError)}`}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Files in a maildir's `new/` (empty when the maildir does not exist). */
export const maildirNew = (dir: string): ReadonlyArray<string> => {
  try {
    return fs.readdirSync(path.join(dir, "new")).sort().map((name) => path.join(dir, "new", name))
  } catch {
    return []
  }
}

/** What the spool holds: the ids of its messages, and any file a write left half done. */
export const spoolFiles = (spoolDir: string): ReadonlyArray<string> => [
  ...heldIn(spoolDir).map((record) => record.id),
  ...leftoversIn(spoolDir)
]

/** How many messages Python's `mailbox.Maildir` reads in `dir`. */
export const pythonMaildirCount = (dir: string): number =>
  Number(
    execFileSync(
      "/usr/bin/python3",
      ["-c", "import mailbox,sys; print(len(mailbox.Maildir(sys.argv[1], create=False)))", dir],
      { encoding: "utf8", timeout: 10_000 }
    ).trim()
  )

/** The e2e tests talk raw SMTP with the one client. */

/**
 * A failmail and the recording upstream it relays to, both stopped when the
 * current test finishes. `overrides` may be a function of failmail's temp dir
 * (for paths such as `allDir`).
 */
export const startWithUpstream = async (
  overrides: Partial<RunningConfig> | ((dir: string) => Partial<RunningConfig>) = {},
  upstreamOptions: UpstreamOptions = {}
): Promise<{ readonly failmail: Failmail; readonly upstream: Upstream }> => {
  const upstream = await startUpstream(upstreamOptions)
  const failmail = await startFailmail((dir) => ({
    relayAddr: upstream.address,
    ...(typeof overrides === "function" ? overrides(dir) : overrides)
  })).catch(async (error: unknown) => {
    await upstream.close()
    throw error
  })
  // failmail first: its final flush may still relay to the upstream.
  onTestFinished(async () => {
    await failmail.dispose()
    await upstream.close()
  })
  return { failmail, upstream }
}

/** A summary as the upstream received it, parsed. */
export interface ReceivedSummary {
  readonly delivery: Delivery
  readonly mail: ParsedMail
  readonly subject: string
  readonly messages: number
  readonly groups: number
  readonly batch: string
}

/** Parses the summaries (mail from failmail's `--from`) the upstream received so far. */
export const summariesOf = (upstream: Upstream, failmail: Failmail): Promise<ReadonlyArray<ReceivedSummary>> =>
  Promise.all(
    upstream.deliveries
      .filter((delivery) => delivery.from === failmail.config.from)
      .map(async (delivery) => {
        const mail = await simpleParser(delivery.raw)
        const header = (name: string) => {
          const value = mail.headers.get(name)
          return typeof value === "string" ? value : ""
        }
        return {
          delivery,
          mail,
          subject: mail.subject ?? "",
          messages: Number(header("x-failmail-messages")),
          groups: Number(header("x-failmail-groups")),
          batch: header("x-failmail-batch")
        }
      })
  )

/**
 * Stops failmail, whose final flush summarizes every pending batch (see
 * {@link GATHER}), checks that its spool is empty, and parses the summaries
 * the upstream received.
 */
export const summariesAtStop = async (upstream: Upstream, failmail: Failmail): Promise<ReadonlyArray<ReceivedSummary>> => {
  await failmail.close()
  expect(spoolFiles(failmail.config.messageStore)).toEqual([])
  return summariesOf(upstream, failmail)
}

/** Waits until the upstream holds `count` summaries and the spool is empty (so nothing more is on its way). */
export const settledSummaries = async (
  upstream: Upstream,
  failmail: Failmail,
  count: number,
  timeoutMs = 5_000
): Promise<ReadonlyArray<ReceivedSummary>> => {
  await eventually(
    `${count} summaries upstream and an empty spool`,
    () => upstream.deliveries.filter((delivery) => delivery.from === failmail.config.from).length >= count &&
      spoolFiles(failmail.config.messageStore).length === 0,
    timeoutMs
  )
  return summariesOf(upstream, failmail)
}
