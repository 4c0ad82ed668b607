/**
 * The SMTP listener under stress, after Postfix's stress-adaptive
 * behaviour: while every connection slot is taken, a new connection waits
 * for one (up to `SLOT_WAIT_MS`) instead of being refused at once, and every
 * session's idle and line limits drop to `STRESS_TIMEOUT_MS`. Clients that
 * hold slots without sending (or trickle a line a byte at a time) are then
 * closed with 421 within seconds, and a waiting client takes the slot. Once
 * a slot is free and nobody waits, the configured limits apply again.
 * The rules are `domain/smtp/SessionLimits.ts`; this applies them.
 */
import type * as net from "node:net"
import type { SMTPServer } from "smtp-server"
import * as SessionLimits from "../../domain/smtp/SessionLimits.ts"
import * as LineDeadline from "./LineDeadline.ts"
import type { Connections } from "./SmtpServerInternals.ts"

/** The configured limits of the listener. */
export interface Limits {
  readonly maxConnections: number
  /** How long a session may stay silent, without stress. */
  readonly idleMs: number
  /** `--line-timeout`. */
  readonly lineMs: number
}

/** Admission to `server`'s slots; `stressChanged` hears when stress begins and ends. */
export const make = (server: SMTPServer, connections: Connections, limits: Limits, stressChanged: (stress: boolean) => void) => {
  /** The connections given to smtp-server and not closed yet (it counts a new one only once its session starts). */
  const served = new Set<net.Socket>()
  const waiting: Array<net.Socket> = []
  let stressed = false
  const hasSlot = () => served.size < limits.maxConnections
  const serve = (socket: net.Socket) => {
    served.add(socket)
    socket.once("close", () => {
      served.delete(socket)
      released()
    })
    server.server.emit("connection", socket)
  }
  const leave = (socket: net.Socket) => {
    const at = waiting.indexOf(socket)
    if (at !== -1) waiting.splice(at, 1)
    return at !== -1
  }
  /** A connection ended: the ones waiting longest take the free slots. */
  const released = () => {
    while (waiting.length > 0 && hasSlot()) {
      const next = waiting.shift() as net.Socket
      if (!next.destroyed) serve(next)
    }
    settle()
  }
  /** Applies the limits of the current state to every session, when it changed. */
  const settle = () => {
    const stress = SessionLimits.underStress(served.size + waiting.length, limits.maxConnections)
    if (stress === stressed) return
    stressed = stress
    const idleMs = SessionLimits.limitUnder(stress, limits.idleMs)
    // Later waits of smtp-server's own idle timer read its options; the sessions open now are told at once.
    server.options.socketTimeout = idleMs
    for (const connection of server.connections) connections.setIdleTimeout(connection, idleMs)
    LineDeadline.setLimit(server, SessionLimits.limitUnder(stress, limits.lineMs))
    stressChanged(stress)
  }
  return {
    /**
     * A new connection: served at once while a slot is free, or when
     * `refusedAnyway` (its address holds its share already: it gets its 421
     * now) or as many wait already as there are slots; otherwise it waits for
     * a slot, and is served (or refused, if none came) after `SLOT_WAIT_MS`.
     */
    admit: (socket: net.Socket, refusedAnyway: boolean): void => {
      if (hasSlot() || refusedAnyway || waiting.length >= limits.maxConnections) {
        serve(socket)
        return settle()
      }
      waiting.push(socket)
      socket.on("error", () => undefined)
      socket.once("close", () => {
        if (leave(socket)) settle()
      })
      setTimeout(() => {
        if (leave(socket)) serve(socket)
        settle()
      }, SessionLimits.SLOT_WAIT_MS).unref()
      settle()
    },
    /** On stop or reload: each connection still waiting for a slot gets `reply` (a 421) and is closed. */
    refuseWaiting: (reply: string): void => {
      for (const socket of waiting.splice(0)) if (!socket.destroyed) socket.end(`${reply}\r\n`)
    }
  }
}
