/**
 * Renders summaries into complete e-mails: a `multipart/alternative` message
 * with a text part and an HTML part, both from Handlebars templates shipped
 * in `templates/` (`--template FILE` replaces the text one).
 *
 * Templates are read and compiled once, when the service is built; a bad
 * template is a start error. At run time a template that throws never loses
 * the summary: it falls back to a plain rendering and logs a warning.
 */
import { Clock, Effect } from "effect"
import Handlebars from "handlebars"
import * as crypto from "node:crypto"
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import MailComposer from "nodemailer/lib/mail-composer/index.js"
import { ConfigError } from "../../domain/settings/Errors.ts"
import * as Expectation from "../../domain/expectations/Expectation.ts"
import * as LogContext from "../../domain/LogContext.ts"
import { backGroupCount, messageCount, newGroupCount, type RenderedSummary, type SummaryInput } from "../../domain/delivery/Summary.ts"
import * as SummaryText from "../../domain/delivery/SummaryText.ts"
import { AppConfig } from "../runtime/AppConfig.ts"
import { SilenceLinks } from "../silences/SilenceLinks.ts"

/**
 * The folder of the templates shipped with failmail: `templates/` in the
 * nearest folder above this module (`src/…`) or the bundle it is built into (`dist/`).
 */
export const templatesDir: string = ((start: string): string => {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "templates")
    if (existsSync(path.join(candidate, "summary.txt.hbs"))) return candidate
    if (path.dirname(dir) === dir) return path.join(start, "templates")
  }
})(path.dirname(fileURLToPath(import.meta.url)))

/** The shipped text-part template. */
export const defaultTextTemplate: string = path.join(templatesDir, "summary.txt.hbs")

/** The shipped HTML-part template. */
export const defaultHtmlTemplate: string = path.join(templatesDir, "summary.html.hbs")

/** The shipped template of expected-mail notices. */
export const noticeTemplate: string = path.join(templatesDir, "notice.txt.hbs")

type Template<V = SummaryText.SummaryView> = (view: V) => string

const sampleNotice = (): Expectation.NoticeView =>
  Expectation.noticeView(
    "back",
    { id: "x", name: "sample", match: { subject: "^x" }, everyMs: 60_000, to: [], createdAt: 0, lastMetAt: 1, missingSince: 1 },
    "[failmail]"
  )

/** A summary that reaches every branch of a template (body, cut body, no body, brief list, omitted line, silenced, back, stopped). */
const sampleInput = (): SummaryInput => {
  const group = (n: number) => ({
    batchKey: "sample",
    key: `key ${n}`,
    count: n,
    firstAt: 0,
    lastAt: 60_000 * n,
    subject: `sample subject ${n}`,
    senders: [`app${n}@example.com`, "other@example.com"],
    body: "sample body line\n".repeat(4),
    novelty: n % 2 === 0 ? ("new" as const) : n === 3 ? ("back" as const) : ("ongoing" as const),
    quietMs: n === 3 ? 7_200_000 : 0,
    firstSeen: 0,
    instancesSince: 10 * n,
    times: [0, 60_000 * n]
  })
  return {
    batchKey: "sample",
    batches: [
      { key: "sample", count: 6 },
      { key: "", count: 4 }
    ],
    recipients: ["ops@example.com"],
    groups: [group(1), group(2), group(3), group(4)],
    createdAt: 0,
    held: [{ silenceId: "s1", matchers: 'subject=~"^x"', endsAt: 3_600_000, comment: "sample", author: "ops", count: 2 }],
    stopped: [{ subject: "sample stopped", lastSeen: 0 }]
  }
}

/** The view of {@link sampleInput}, with limits small enough to cut, list and omit. */
const sampleView = (): SummaryText.SummaryView =>
  SummaryText.viewOf(sampleInput(), {
    subjectPrefix: "[failmail]",
    limits: { bodyGroups: 1, bodyChars: 20, detailedGroups: 2, listedGroups: 3, senders: 1 }
  })

const reason = (error: unknown): string => {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code
    const text = typeof code === "string" ? error.message.replace(/,\s*\w+ '.*'$/s, "") : error.message
    return SummaryText.oneLine(text)
  }
  return SummaryText.oneLine(String(error))
}

/** Reads and compiles one template, forcing compilation by rendering a sample view. */
const loadTemplate = <V = SummaryText.SummaryView>(
  hb: typeof Handlebars,
  file: string,
  escape: boolean,
  sample: () => V = sampleView as unknown as () => V
) =>
  Effect.gen(function* () {
    const source = yield* Effect.tryPromise({
      try: () => fs.readFile(path.resolve(file), "utf8"),
      catch: (error) => new ConfigError({ message: `template ${file}: cannot read: ${reason(error)}` })
    })
    return yield* Effect.try({
      try: (): Template<V> => {
        const compiled = hb.compile<V>(source, { noEscape: !escape, strict: true })
        compiled(sample())
        return (view) => compiled(view)
      },
      catch: (error) => new ConfigError({ message: `template ${file}: cannot compile: ${reason(error)}` })
    })
  })

/** The HTML part when the HTML template fails: the plain rendering in a `<pre>`. */
const plainHtml = (text: string): string =>
  `<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body><pre style="white-space:pre-wrap;">${Handlebars.Utils.escapeExpression(text)}</pre></body></html>\n`

/** The domain of an address (`failmail@host.example` → `host.example`), for Message-IDs. */
const domainOf = (address: string): string => {
  const match = /@([A-Za-z0-9.-]+)>?\s*$/.exec(address.trim())
  const domain = match?.[1]?.replace(/^\.+|\.+$/g, "")
  return domain !== undefined && domain !== "" ? domain : os.hostname().replace(/[^A-Za-z0-9.-]/g, "") || "localhost"
}

const EMPTY_BATCH_HEADER = Buffer.from("X-Failmail-Batch: \r\n")

/** Renders summaries into complete MIME messages. */
export class Renderer extends Effect.Service<Renderer>()("failmail/Renderer", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const links = yield* SilenceLinks
    const hb = Handlebars.create()
    const textFile = config.template === "" ? defaultTextTemplate : config.template
    const text = yield* loadTemplate(hb, textFile, false)
    const html = yield* loadTemplate(hb, defaultHtmlTemplate, true)
    const notice = yield* loadTemplate(hb, noticeTemplate, false, sampleNotice)
    const messageIdDomain = domainOf(config.from)
    /** The `Message-ID` of a summary with this local part (a random one without). */
    const messageIdOf = (summaryId: string | undefined): string => `<${summaryId ?? crypto.randomUUID()}@${messageIdDomain}>`

    const renderPart = (name: string, template: Template, view: SummaryText.SummaryView, fallback: () => string) =>
      Effect.try(() => template(view)).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`summary ${name} template failed, sending a plain rendering: ${reason(error.error)}`).pipe(
            Effect.as(fallback())
          )
        )
      )

    const compose = (
      input: SummaryInput,
      subject: string,
      parts: { readonly text: string; readonly html: string },
      messageId: string
    ) => {
      const batch = SummaryText.truncate(SummaryText.oneLine(input.batchKey), SummaryText.MAX_FIELD_CHARS)
      return Effect.tryPromise(() =>
        new MailComposer({
          from: config.from,
          to: [...input.recipients],
          subject,
          date: new Date(input.createdAt),
          messageId,
          // The first digest of its thread, as parent and as the whole chain: a reader's client folds the thread under it.
          ...(input.inReplyTo === undefined ? {} : { inReplyTo: input.inReplyTo, references: [input.inReplyTo] }),
          headers: {
            ...(batch === "" ? {} : { "X-Failmail-Batch": batch }),
            "X-Failmail-Messages": String(messageCount(input)),
            "X-Failmail-Groups": String(input.groups.length),
            "X-Failmail-New": String(newGroupCount(input)),
            "X-Failmail-Back": String(backGroupCount(input)),
            ...(input.batches.length > 1 ? { "X-Failmail-Storm": String(input.batches.length) } : {})
          },
          text: parts.text,
          html: parts.html,
          newline: "\r\n",
          disableFileAccess: true,
          disableUrlAccess: true
        })
          .compile()
          .build()
      ).pipe(
        // nodemailer leaves out empty headers; the default batch key is "", and rules may test for it.
        Effect.map((raw) => (batch === "" ? Buffer.concat([EMPTY_BATCH_HEADER, raw]) : raw))
      )
    }

    const render = Effect.fn("Renderer.render")(function* (input: SummaryInput) {
      const view = SummaryText.viewOf(input, {
        subjectPrefix: config.subjectPrefix,
        silenceLinks: (batchKey, groupKey) => links.forGroup(batchKey, groupKey, input.createdAt)
      })
      const plain = () => SummaryText.plainText(view)
      const messageId = messageIdOf(input.summaryId)
      const textPart = yield* renderPart("text", text, view, plain)
      const htmlPart = yield* renderPart("HTML", html, view, () => plainHtml(plain()))
      const raw = yield* compose(input, view.subject, { text: textPart, html: htmlPart }, messageId).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`summary could not be built, sending a plain rendering: ${reason(error.error)}`).pipe(
            Effect.zipRight(compose(input, view.subject, { text: plain(), html: plainHtml(plain()) }, messageId)),
            Effect.orDie
          )
        )
      )
      const rendered: RenderedSummary = {
        batchKey: input.batchKey,
        subject: view.subject,
        from: config.from,
        recipients: input.recipients,
        messageCount: view.messageCount,
        groupCount: view.groupCount,
        messageId,
        thread: input.inReplyTo ?? messageId,
        raw
      }
      return rendered
    }, LogContext.annotate({ component: "renderer" }))

    const renderNotice = Effect.fn("Renderer.renderNotice")(function* (
      kind: Expectation.NoticeKind,
      expectation: Expectation.Expectation
    ) {
      const view = Expectation.noticeView(kind, expectation, config.subjectPrefix)
      const createdAt = yield* Clock.currentTimeMillis
      const messageId = messageIdOf(undefined)
      const raw = yield* Effect.tryPromise(() =>
        new MailComposer({
          from: config.from,
          to: [...expectation.to],
          subject: view.subject,
          date: new Date(createdAt),
          messageId,
          headers: { "X-Failmail-Expectation": SummaryText.truncate(view.name, SummaryText.MAX_FIELD_CHARS) },
          text: notice(view),
          newline: "\r\n",
          disableFileAccess: true,
          disableUrlAccess: true
        })
          .compile()
          .build()
      ).pipe(Effect.orDie)
      const rendered: RenderedSummary = {
        batchKey: "",
        subject: view.subject,
        from: config.from,
        recipients: expectation.to,
        messageCount: 0,
        groupCount: 0,
        messageId,
        thread: messageId,
        raw
      }
      return rendered
    })

    return {
      render,
      /** The `Message-ID` a summary with this local part gets (see `SummaryInput.summaryId`). */
      messageIdOf,
      /**
       * Renders a sample summary and throws it away: the first run of the
       * templates and of the MIME composer costs several times a later one.
       */
      prepare: Effect.asVoid(render(sampleInput())),
      /** An expected-mail notice ("missing" or "back") to the expectation's recipients. */
      renderNotice
    } as const
  })
}) {}
