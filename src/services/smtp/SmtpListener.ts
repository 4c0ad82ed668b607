/**
 * The SMTP listener (smtp-server) as a scoped resource. It answers 250 only
 * after the message is in the spool, 451 when it could not be stored (so the
 * client retries), 552 over `--max-message-size` (the bytes past the limit
 * are counted and dropped, never kept), 452 for each recipient beyond
 * `--max-recipients`, and 421 beyond `--max-connections` or
 * `--max-connections-per-ip` and to a client that takes longer than
 * `--line-timeout` for a line or `--data-timeout` for a message. While every
 * slot is taken it is under stress (see `Stress.ts`): a new connection
 * waits for a slot, and silent or trickling sessions are shed after 10 s.
 * Closing the
 * scope stops accepting at once, closes idle sessions (421) and gives
 * sessions with a message under way `--shutdown-timeout` to finish it.
 */
import { Cause, Clock, Duration, Effect, Runtime } from "effect"
import * as fs from "node:fs/promises"
import * as util from "node:util"
import { SMTPServer, type SMTPServerOptions } from "smtp-server"
import type { SMTPConnection } from "smtp-server/lib/smtp-connection.js"
import { parseHostPort } from "../../domain/settings/Address.ts"
import { ConfigError, StartError } from "../../domain/settings/Errors.ts"
import * as GoDuration from "../../domain/settings/GoDuration.ts"
import * as LogContext from "../../domain/LogContext.ts"
import * as Rewrite from "../../domain/message/Rewrite.ts"
import * as Secrets from "../../domain/settings/Secrets.ts"
import * as RecentWrites from "../../domain/store/RecentWrites.ts"
import { perAddressLimit } from "../../domain/smtp/SessionLimits.ts"
import { smtpReply as reply } from "../../domain/smtp/SmtpReply.ts"
import { AppConfig, type RunningConfig } from "../runtime/AppConfig.ts"
import { History } from "../delivery/History.ts"
import { MessageIntake } from "./MessageIntake.ts"
import * as LineDeadline from "./LineDeadline.ts"
import * as SmtpServerInternals from "./SmtpServerInternals.ts"
import * as Stress from "./Stress.ts"
import { attach, type ListenTarget } from "../runtime/Listeners.ts"
import * as RepeatedLog from "../runtime/RepeatedLog.ts"
import type { SpoolError } from "../store/Store.ts"
import { Metrics } from "../runtime/Metrics.ts"

/** A connection idle this long is closed (RFC 5321 asks servers to wait at least 5 minutes mid-command). */
const IDLE_TIMEOUT = Duration.minutes(5)

const readTls = (config: RunningConfig) =>
  Effect.tryPromise({
    try: async () =>
      config.tlsCert === ""
        ? {}
        : {
            cert: await fs.readFile(config.tlsCert).catch((error: Error) => {
              throw new Error(`tls-cert ${config.tlsCert}: cannot read: ${error.message}`)
            }),
            key: await fs.readFile(config.tlsKey).catch((error: Error) => {
              throw new Error(`tls-key ${config.tlsKey}: cannot read: ${error.message}`)
            })
          },
    catch: (error) => new ConfigError({ message: (error as Error).message })
  })

/** Where to listen: an inherited socket (`--socket-fd`, systemd `LISTEN_FDS`) or `--bind-addr`. */
const listenTarget = (config: RunningConfig): Effect.Effect<ListenTarget, ConfigError> => {
  if (config.socketFd > 0) {
    return Effect.succeed({ _tag: "Inherited", fd: config.socketFd, label: `socket-fd ${config.socketFd}` })
  }
  if (process.env["LISTEN_PID"] === String(process.pid) && Number(process.env["LISTEN_FDS"] ?? "0") >= 1) {
    return Effect.succeed({ _tag: "Inherited", fd: 3, label: "systemd socket (LISTEN_FDS)" })
  }
  const address = parseHostPort(config.bindAddr, 2525)
  return typeof address === "string"
    ? Effect.fail(new ConfigError({ message: `bind-addr: ${address}` }))
    : Effect.succeed({ _tag: "Address", ...address, label: `bind-addr ${config.bindAddr}` })
}

/** What a refusal is counted under in the log: the system's error code (ENOSPC, EFBIG…) when there is one, else the whole message. */
const refusalReason = (error: SpoolError): string => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : error.message
}

/** Polls until `done` holds or `timeout` passes. */
const waitUntil = (done: () => boolean, timeout: Duration.Duration) =>
  Effect.gen(function* () {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
    while (!done() && (yield* Clock.currentTimeMillis) < deadline) yield* Effect.sleep("50 millis")
  })

/** `--debug-receiver`: smtp-server's (meta, format, ...args) log calls as one line per event, with its connection id. */
const conversationLog =
  (log: (line: string, connection?: string) => void) =>
  (meta: unknown, format?: unknown, ...args: Array<unknown>) =>
    log(util.format(format, ...args), (meta as { cid?: string } | undefined)?.cid)

/** The SMTP listener. */
export class SmtpListener extends Effect.Service<SmtpListener>()("failmail/SmtpListener", {
  scoped: Effect.gen(function* () {
    // A changed smtp-server stops the start here, before anything relies on its internals.
    const internals = yield* SmtpServerInternals.ready
    const { isIdle } = internals
    const config = yield* AppConfig
    const intake = yield* MessageIntake
    const metrics = yield* Metrics
    const history = yield* History
    const runtime = yield* Effect.runtime<never>()
    const tls = yield* readTls(config)
    const target = yield* listenTarget(config)
    const rewrite = Rewrite.makeRule(config.rewriteSrc, config.rewriteDest)
    const needsAuth = Secrets.isSet(config.credentials)
    const { user, password } = Secrets.credentialsOf(config.credentials)
    const hasTls = config.tlsCert !== ""
    /** Logs `line` from smtp-server's callbacks, about `connection` when given. */
    const log = (line: Effect.Effect<void>, connection?: string) =>
      Runtime.runSync(runtime)(LogContext.annotate(connection === undefined ? {} : { connection })(line))
    const logInfo = (message: string, connection?: string) => log(Effect.logInfo(message), connection)
    const dataTimeoutMs = Duration.toMillis(config.dataTimeout)
    const perAddress = perAddressLimit(config.maxConnectionsPerIp, config.maxConnections)
    /** Sessions past onConnect: only they count in the connections gauge. */
    const accepted = new Set<string>()
    /** What intake's store writes did lately: readiness (`/readyz`) follows it. */
    const recentWrites = RecentWrites.empty()
    /** On a full disk every message is refused: the first refusal of a reason is logged, the rest counted, once per interval. */
    const logRefusal = RepeatedLog.make((line) => log(Effect.logError(line)))
    const logStress = RepeatedLog.make((line) => log(Effect.logWarning(line)))

    const reject = (reason: string) => {
      metrics.messagesRejected.inc({ reason })
      Runtime.runSync(runtime)(history.rejected)
    }

    const options: SMTPServerOptions = {
      ...tls,
      secure: config.ssl,
      banner: "failmail ready",
      size: config.maxMessageSize,
      authOptional: !needsAuth,
      authMethods: ["PLAIN", "LOGIN"],
      allowInsecureAuth: config.allowUnencryptedAuth,
      disabledCommands: [...(hasTls && !config.ssl ? [] : ["STARTTLS"]), ...(needsAuth ? [] : ["AUTH"])],
      maxClients: config.maxConnections,
      // smtp-server answers each RCPT TO beyond this with "452 Error: too many recipients" (as Postfix does).
      maxRecipients: config.maxRecipients,
      socketTimeout: Duration.toMillis(IDLE_TIMEOUT),
      disableReverseLookup: true,
      // The load balancers of --proxy-protocol start each connection with a PROXY header naming the client.
      useProxy: config.proxyProtocol.length === 0 ? false : [...config.proxyProtocol],
      lenientAddressParsing: true,
      logger: config.debugReceiver
        ? { info: conversationLog(logInfo), debug: conversationLog(logInfo), error: conversationLog(logInfo) }
        : false,
      onConnect: (session, callback) => {
        if (perAddress > 0 && connectionsFrom(session.remoteAddress) > perAddress) {
          logInfo(`refused ${session.remoteAddress}: it holds ${perAddress} connections already (--max-connections-per-ip)`, session.id)
          return callback(reply(421, "Too many connections from your address, try again later"))
        }
        accepted.add(session.id)
        metrics.smtpConnections.inc()
        callback()
      },
      onClose: (session, callback) => {
        if (accepted.delete(session.id)) metrics.smtpConnections.dec()
        callback?.()
      },
      onAuth: (auth, session, callback) => {
        // smtp-server refuses plaintext AUTH itself only while STARTTLS is offered; without any TLS configured it would accept it.
        if (!session.secure && !config.allowUnencryptedAuth) {
          return callback(reply(538, "Error: Encryption required for requested authentication mechanism"))
        }
        if (Secrets.sameSecret(auth.username ?? "", user) && Secrets.sameSecret(auth.password ?? "", password)) {
          return callback(null, { user: auth.username })
        }
        callback(reply(535, "Authentication credentials invalid"))
      },
      onData: (stream, session, callback) => {
        const deadline = setTimeout(() => closeSession(session.id, "Timeout - message not received in time"), dataTimeoutMs)
        deadline.unref()
        stream.once("close", () => clearTimeout(deadline))
        const chunks: Array<Buffer> = []
        // Past --max-message-size the rest is drained and counted (stream.byteLength), never kept,
        // so a client's memory is bounded by the limit whatever it sends.
        stream.on("data", (chunk: Buffer) => {
          if (stream.sizeExceeded) chunks.length = 0
          else chunks.push(chunk)
        })
        stream.on("error", () => undefined)
        stream.on("end", () => {
          clearTimeout(deadline)
          if (stream.sizeExceeded) {
            reject("too-large")
            return callback(reply(552, `Message exceeds the maximum size of ${config.maxMessageSize} bytes`))
          }
          const envelope = {
            mailFrom: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
            rcptTo: Rewrite.rewriteAll(
              rewrite,
              session.envelope.rcptTo.map((recipient) => recipient.address)
            )
          }
          // A message that came in one piece is stored as it is, without a copy.
          const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)
          intake.accept(raw, envelope, session.id, (error) => {
            RecentWrites.record(recentWrites, Date.now(), error === undefined)
            if (error === undefined) return callback(null, "Ok: stored")
            reject("spool")
            logRefusal("cannot store messages; answered 451", refusalReason(error), () =>
              log(Effect.logError(`cannot store message; answered 451: ${error.message}`), session.id)
            )
            log(Effect.logDebug("cannot store message; answered 451", Cause.fail(error)), session.id)
            callback(reply(451, "Temporary failure: cannot store the message, try again later"))
          })
        })
      }
    }
    const server = new SMTPServer(options)
    server.on("error", (error) => logInfo(error.message))
    yield* LineDeadline.enforce(server, Duration.toMillis(config.lineTimeout))
    const stress = Stress.make(
      server,
      internals,
      { maxConnections: config.maxConnections, idleMs: Duration.toMillis(IDLE_TIMEOUT), lineMs: Duration.toMillis(config.lineTimeout) },
      (under) => {
        // Under a connection storm the stress begins again at every slot taken back: counted, one line per interval.
        const why = "every connection slot taken; new connections wait for one, sessions silent (or on one line) for 10 s are closed"
        if (under) logStress("under stress", why, () => log(Effect.logWarning(`under stress: ${why}`)))
        else log(Effect.logDebug("a connection slot is free again: the configured idle and line limits apply"))
      }
    )

    /** How many open sessions come from `address`. */
    function connectionsFrom(address: string): number {
      let count = 0
      for (const connection of server.connections) if (connection.remoteAddress === address) count++
      return count
    }

    /** Answers a session 421 with `text` and closes it. */
    function closeSession(id: string, text: string): void {
      for (const connection of server.connections) if (connection.id === id) connection.send(421, text)
    }

    const listener = yield* attach("smtp", target).pipe(Effect.mapError((error) => new StartError({ message: error.message })))
    listener.route((socket) => {
      // As smtp-server names the address (an IPv4 client of a dual-stack socket without its "::ffff:").
      const address = (socket.remoteAddress ?? "").replace(/^::ffff:/, "")
      stress.admit(socket, perAddress > 0 && connectionsFrom(address) >= perAddress)
    })

    // On stop: refuse new connections at once. On reload: new connections wait for the next graph.
    // Either way, idle sessions are closed at once and busy ones get --shutdown-timeout to finish on this graph.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const reloading = yield* listener.detach
        yield* Effect.logInfo(reloading ? "handing the listener to the new configuration" : "listener closed")
        // A reload is no shutdown: the client may come back at once, to the same address.
        const why = reloading ? "failmail is reloading its configuration, try again in a moment" : "Server shutting down, try again later"
        stress.refuseWaiting(`421 ${why}`)
        const closeWhere = (which: (connection: SMTPConnection) => boolean) => {
          for (const connection of server.connections) {
            if (!which(connection)) continue
            connection.send(421, why)
            connection.close()
          }
        }
        closeWhere(isIdle)
        const busy = [...server.connections].filter((connection) => !isIdle(connection)).length
        if (busy > 0) {
          yield* Effect.logInfo(`waiting up to ${GoDuration.format(config.shutdownTimeout)} for ${busy} sessions to finish their message`)
          yield* waitUntil(() => {
            closeWhere(isIdle)
            return server.connections.size === 0
          }, config.shutdownTimeout)
          closeWhere(() => true)
        }
      })
    )
    const address = listener.address
    yield* Effect.logInfo(`listening on ${address ? `${address.address}:${address.port}` : target.label}`)
    if (needsAuth && !hasTls && !config.allowUnencryptedAuth) {
      yield* Effect.logWarning(
        "credentials are set but TLS is not: clients cannot authenticate (set --tls-cert/--tls-key or --allow-unencrypted-auth)"
      )
    }

    return {
      /** The bound port (0 when serving an inherited socket that is not TCP). */
      port: address?.port ?? 0,
      /** Whether the listener is accepting connections. */
      listening: Effect.sync(() => listener.listening()),
      /** The messages stored and refused (451, not stored) in the last few seconds. */
      recentWrites: Effect.map(Clock.currentTimeMillis, (now) => RecentWrites.countsAt(recentWrites, now))
    } as const
  }).pipe(LogContext.annotate({ component: "smtp" }))
}) {}
