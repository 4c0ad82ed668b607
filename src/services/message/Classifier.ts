/**
 * Decides where a received message goes: decodes it (its headers only,
 * unless an expression reads the body; the headers are decoded the same way
 * in both cases) and renders `--batch-expr` and
 * `--group-expr`. The expressions are compiled once; a
 * bad one stops the start (exit 2), a failure on one message only logs a
 * warning and uses the key `""`.
 */
import { Effect, Either, Exit } from "effect"
import * as crypto from "node:crypto"
import { ConfigError } from "../../domain/settings/Errors.ts"
import * as Expression from "../../domain/message/Expression.ts"
import * as LogContext from "../../domain/LogContext.ts"
import { messageView } from "../../domain/message/HeaderBlock.ts"
import type { Envelope, Keys, MessageView } from "../../domain/message/Message.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { MessageParser } from "./MessageParser.ts"

/** A decoded message with its keys. */
export interface Classified {
  readonly view: MessageView
  readonly keys: Keys
  /** Envelope sender, or the From header for the null sender. */
  readonly sender: string
  /** Why an expression failed on this message (its key is then `""`); empty when both worked. */
  readonly problems: ReadonlyArray<string>
}

const compileOrFail = (source: string, name: string) =>
  Either.match(Expression.compile(source, name), {
    onLeft: (message) => Effect.fail(new ConfigError({ message })),
    onRight: Effect.succeed
  })

/** Key expressions, compiled. */
export class Classifier extends Effect.Service<Classifier>()("failmail/Classifier", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const parser = yield* MessageParser
    const batchExpr = yield* compileOrFail(config.batchExpr, "batch-expr")
    const groupExpr = yield* compileOrFail(config.groupExpr, "group-expr")
    const fingerprint = crypto
      .createHash("sha256")
      .update(`${config.batchExpr}\u0000${config.groupExpr}`)
      .digest("hex")
      .slice(0, 16)

    /** The key `expression` gives `view`, or `""` with the reason added to `problems`. */
    const keyOf = (expression: Expression.Expression, view: MessageView, problems: Array<string>): string =>
      Either.getOrElse(
        Either.mapLeft(expression.evaluate(view), (warning) => problems.push(warning)),
        () => ""
      )

    /** Logs why an expression failed on a message. */
    const warn = (problems: ReadonlyArray<string>): Effect.Effect<void> =>
      Effect.forEach(problems, (warning) => Effect.logWarning(`${warning}; using key ""`), { discard: true }).pipe(
        LogContext.annotate({ component: "classifier" })
      )

    /** The keys of a decoded message (plain code). */
    const classifyView = (view: MessageView, envelope: Envelope): Classified => {
      const problems: Array<string> = []
      const batchKey = keyOf(batchExpr, view, problems)
      const groupKey = keyOf(groupExpr, view, problems)
      return {
        view,
        keys: { fingerprint, batchKey, groupKey },
        sender: envelope.mailFrom !== "" ? envelope.mailFrom : view.from,
        problems
      }
    }

    /** A classified message, after its problems (if any) are logged. */
    const warned = (classified: Classified): Effect.Effect<Classified> =>
      classified.problems.length === 0 ? Exit.succeed(classified) : Effect.as(warn(classified.problems), classified)

    // Most expressions read headers only: then the body is not decoded at intake (the headers are the same either way).
    const needsBody = [config.batchExpr, config.groupExpr].some((source) => /\bbody\b/.test(source))
    const classify = (raw: Uint8Array, envelope: Envelope): Effect.Effect<Classified> => {
      if (needsBody) return Effect.flatMap(parser.parse(raw, envelope), (view) => warned(classifyView(view, envelope)))
      try {
        return warned(classifyView(messageView(raw, envelope), envelope))
      } catch (defect) {
        return Exit.die(defect)
      }
    }

    return {
      /** Identifies the current expressions; keys stored with another fingerprint are recomputed. */
      fingerprint,
      /**
       * Decodes a message and computes its keys, warning about an expression
       * that failed on it. When the expressions read headers only and both
       * worked, the keys are computed at the call and the effect returned is
       * already finished (an `Exit`): the SMTP intake takes its value without
       * running it, so such a message costs no fiber.
       */
      classify,
      /** Decodes a message without computing keys (for summary bodies). */
      parse: parser.parse
    } as const
  }),
  dependencies: [MessageParser.Default]
}) {}
