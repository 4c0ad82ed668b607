/**
 * Sends mail upstream to `--relay-addr` over one pooled SMTP transport
 * (nodemailer) with opportunistic STARTTLS and optional AUTH, each attempt
 * bounded by `--relay-timeout`. `--relay-addr=debug` prints to stdout.
 *
 * Errors say whether they are worth retrying: connection problems, timeouts
 * and 4xx replies are transient; 5xx replies are permanent.
 *
 * The transport (and nodemailer's transports with it) is made on the first
 * send, not at start: an idle failmail does not hold it.
 */
import { Data, Duration, Effect, Redacted, Scope } from "effect"
import { parseHostPort } from "../../domain/settings/Address.ts"
import { ConfigError } from "../../domain/settings/Errors.ts"
import * as Secrets from "../../domain/settings/Secrets.ts"
import { AppConfig } from "../runtime/AppConfig.ts"

/** An envelope to relay with. */
export interface RelayEnvelope {
  readonly from: string
  readonly to: ReadonlyArray<string>
}

/** A relay attempt failed. */
export class RelayError extends Data.TaggedError("RelayError")<{ readonly reason: string; readonly transient: boolean }> {
  override get message(): string {
    return this.reason
  }
}

/** Classifies what nodemailer threw: 5xx replies are permanent, everything else is worth retrying. */
export const classify = (cause: unknown): RelayError => {
  const error = cause as { responseCode?: number; message?: string; code?: string }
  const reason = String(error?.message ?? cause)
  const code = typeof error?.responseCode === "number" ? error.responseCode : undefined
  return new RelayError({ reason, transient: code === undefined || code < 500 })
}

/** The upstream relay. */
export class Relay extends Effect.Service<Relay>()("failmail/Relay", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    if (config.relayAddr === "debug") {
      return {
        send: (_envelope: RelayEnvelope, raw: Uint8Array): Effect.Effect<void, RelayError> =>
          Effect.sync(() => {
            process.stdout.write(raw)
            process.stdout.write("\r\n")
          }),
        prepare: Effect.void
      }
    }
    const address = parseHostPort(config.relayAddr, 25)
    if (typeof address === "string") return yield* new ConfigError({ message: `relay-addr: ${address}` })
    const timeoutMs = Duration.toMillis(config.relayTimeout)
    const auth = config.relayUser !== "" || Secrets.isSet(config.relayPassword)
    const options = {
      pool: true,
      maxConnections: 4,
      maxMessages: 100,
      maxRequeues: 0,
      host: address.host === "" ? "localhost" : address.host,
      port: address.port,
      secure: false,
      // Opportunistic STARTTLS, like an MTA: encrypt when offered, without
      // requiring a certificate the relay host name can be checked against.
      tls: { rejectUnauthorized: false },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      ...(auth ? { auth: { user: config.relayUser, pass: Redacted.value(config.relayPassword) } } : {})
    }
    const scope = yield* Effect.scope
    /** The pooled transport, made on first use and closed with the relay's scope. */
    const transport = yield* Effect.cached(
      Effect.promise(() => import("nodemailer")).pipe(
        Effect.flatMap(({ default: nodemailer }) =>
          Effect.acquireRelease(
            Effect.sync(() => nodemailer.createTransport(options)),
            (pool) => Effect.sync(() => pool.close())
          )
        ),
        Scope.extend(scope)
      )
    )
    const sendOnce = (envelope: RelayEnvelope, raw: Uint8Array) =>
      Effect.flatMap(transport, (pool) =>
        Effect.tryPromise({
          try: (signal) =>
            pool.sendMail({
              envelope: { from: envelope.from, to: [...envelope.to] },
              raw: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength),
              signal
            }),
          catch: classify
        })
      )
    const send = (envelope: RelayEnvelope, raw: Uint8Array): Effect.Effect<void, RelayError> =>
      sendOnce(envelope, raw).pipe(
        Effect.timeoutFail({
          duration: config.relayTimeout,
          onTimeout: () => new RelayError({ reason: `no answer within ${Duration.format(config.relayTimeout)}`, transient: true })
        }),
        Effect.asVoid
      )
    return {
      send,
      /** Makes the transport now (loading nodemailer's SMTP pool) rather than on the first send. */
      prepare: Effect.asVoid(transport)
    }
  })
}) {}
