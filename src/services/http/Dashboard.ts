/**
 * The dashboard's markup: the Handlebars templates of `templates/dashboard/`
 * (the page, its live parts as fragments, and the partials both are made
 * of) and the static files of `templates/static/` (its style and script).
 *
 * The files are read when the service is built, with the HTTP app on the
 * first request (see `Http.ts`); the templates are compiled, and checked by
 * rendering sample pages that reach every branch, the first time a page is
 * asked for: a failmail whose dashboard nobody opens does not hold them
 * (about 2 MB). A missing or broken file fails the pages only (500, the
 * reason logged once): the probes, `/metrics` and the API never depend on
 * the dashboard.
 * They are compiled in an isolated Handlebars instance in strict mode, with
 * Handlebars' escaping:
 * the page and its fragments come from the same partials, so there is one
 * way anything is rendered.
 *
 * To add a live part: a partial in `templates/dashboard/partials/`, an
 * element with `data-fragment="<name>"` rendering it in `page.hbs`, and the
 * same name in `fragments.hbs`; its data goes into `DashboardView`. To add
 * an action: a button with `data-post="api/…"` (and `data-notice`), which
 * the page script posts and then refreshes the live parts.
 */
import { Effect, Either, Runtime } from "effect"
import Handlebars from "handlebars"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import {
  type BatchPageView,
  batchPageView,
  type LinkPageView,
  linkPageView,
  MESSAGES_SHOWN,
  type PageInput,
  type PageView,
  pageView
} from "../../domain/http/DashboardView.ts"
import * as LogContext from "../../domain/LogContext.ts"
import { StartError } from "../../domain/settings/Errors.ts"
import { templatesDir } from "../delivery/Renderer.ts"

/** A file of `templates/static/`, as it is served. */
export interface StaticFile {
  readonly contentType: string
  readonly body: Uint8Array
}

/** The files of `templates/static/` and their content types. */
const STATIC_FILES: Readonly<Record<string, string>> = {
  "dashboard.css": "text/css; charset=utf-8",
  "dashboard.js": "text/javascript; charset=utf-8"
}

const dashboardDir = path.join(templatesDir, "dashboard")
const partialsDir = path.join(dashboardDir, "partials")
const staticDir = path.join(templatesDir, "static")

const read = (file: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file),
    catch: (error) => new StartError({ message: `dashboard: cannot read ${file}: ${String(error)}` })
  })

/** A page that reaches every branch of the templates, rendered once when they are compiled. */
const samplePage: PageInput = {
  stats: {
    now: 120_000,
    version: "0.0.0",
    counts: { batches: 2, messages: 3, silenced: 1, lastAt: 60_000 },
    totals: { startedAt: 1, received: 3, rejected: 0, summariesDelivered: 1, summariesFailed: 1, lastReceivedAt: 60_000 }
  },
  batches: [
    { key: "", recipients: [], messageCount: 1, firstAt: 1, lastAt: 1, dueAt: 1, held: "", groups: [{ key: "", subject: "", count: 1 }] },
    {
      key: "k",
      recipients: ["a@example.com"],
      messageCount: 2,
      firstAt: 1,
      lastAt: 1,
      dueAt: 240_000,
      held: "repeat",
      groups: Array.from({ length: 9 }, (_, n) => ({ key: `g${n}`, subject: `s${n}`, count: 1 }))
    }
  ],
  held: [
    {
      reason: "budget",
      recipients: ["a@example.com"],
      dueAt: 60_000,
      nextSendAt: 121_000,
      messageCount: 3,
      batches: [
        { key: "", count: 1 },
        { key: "k", count: 2 }
      ]
    }
  ],
  summaries: [
    { id: 1, batchKey: "", subject: "s", recipients: [], messageCount: 1, groupCount: 1, createdAt: 1, status: "delivered", attempts: 1, updatedAt: 1, error: "", failedPath: "", messageId: "<1@x>", thread: "<1@x>" },
    { id: 2, batchKey: "k", subject: "s", recipients: ["a@example.com"], messageCount: 1, groupCount: 1, createdAt: 1, status: "failed", attempts: 2, updatedAt: 1, error: "e", failedPath: "f", messageId: "<2@x>", thread: "<1@x>" }
  ],
  silences: [
    { silence: { id: "s1", match: { subject: "^disk" }, startsAt: 1, endsAt: 240_000, comment: "c", author: "a" }, held: 2 },
    { silence: { id: "s2", match: { batch: "^x$", group: "^y$" }, startsAt: 1, endsAt: 2, comment: "", author: "" }, held: 0 }
  ],
  expectations: [
    { id: "e1", name: "backup", match: { subject: "^ok" }, everyMs: 60_000, to: ["a@example.com"], createdAt: 1, lastMetAt: 0, missingSince: 0 },
    { id: "e2", name: "sync", match: { from: "x" }, everyMs: 60_000, to: ["a@example.com"], createdAt: 1, lastMetAt: 2, missingSince: 3 }
  ],
  config: { a: "", b: "x" },
  nonce: "n"
}

/** Link pages that reach every branch of their template. */
const sampleLinkPages: ReadonlyArray<LinkPageView> = [
  linkPageView({ state: "confirm", claim: { match: { batch: "^x$" }, forMs: 3_600_000 }, token: "t" }, 0, "n"),
  linkPageView({ state: "created", silence: samplePage.silences[0]!.silence }, 0, "n"),
  linkPageView({ state: "refused", reason: "r" }, 0, "n")
]

/** Batch pages that reach every branch of their template: not pending; the default key with more messages than shown. */
const sampleBatchPages: ReadonlyArray<BatchPageView> = [
  batchPageView({ key: "k", messages: undefined, now: 1, version: "0.0.0", nonce: "n" }),
  batchPageView({
    key: "",
    messages: Array.from({ length: MESSAGES_SHOWN + 1 }, (_, n) => ({
      id: `m${n}`,
      receivedAt: 1,
      groupKey: "",
      subject: n === 0 ? "" : "s",
      sender: "a@example.com",
      recipients: n === 0 ? [] : ["b@example.com"],
      recipientsKey: "",
      size: 1
    })),
    now: 1,
    version: "0.0.0",
    nonce: "n"
  })
]

/** The dashboard's templates and static files. */
export class Dashboard extends Effect.Service<Dashboard>()("failmail/Dashboard", {
  effect: Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const source = (file: string) => Effect.map(read(file), (bytes) => ({ file, text: bytes.toString("utf8") }))
    const loaded = yield* Effect.either(
      Effect.gen(function* () {
        const partialNames = (yield* Effect.tryPromise({
          try: () => fs.readdir(partialsDir),
          catch: (error) => new StartError({ message: `dashboard: cannot list ${partialsDir}: ${String(error)}` })
        })).filter((name) => name.endsWith(".hbs"))
        const partials = yield* Effect.forEach(partialNames, (name) => source(path.join(partialsDir, name)))
        const sources = {
          page: yield* source(path.join(dashboardDir, "page.hbs")),
          fragments: yield* source(path.join(dashboardDir, "fragments.hbs")),
          linkPage: yield* source(path.join(dashboardDir, "silence-link.hbs")),
          batchPage: yield* source(path.join(dashboardDir, "batch.hbs"))
        }
        const files = new Map<string, StaticFile>()
        for (const [name, contentType] of Object.entries(STATIC_FILES)) {
          files.set(name, { contentType, body: yield* read(path.join(staticDir, name)) })
        }
        return { partials, sources, files }
      })
    )

    /** The templates, compiled and checked on the sample pages (throws, naming the file, if one is missing or broken). */
    const compileAll = () => {
      if (Either.isLeft(loaded)) throw new Error(loaded.left.message)
      const { partials, sources } = loaded.right
      const hb = Handlebars.create()
      const compile = <V = PageView>({ file, text }: { file: string; text: string }) => {
        try {
          // Handlebars compiles on the first render: parse now, so a syntax error names its file.
          hb.parse(text)
          return hb.compile<V>(text, { strict: true })
        } catch (error) {
          throw new Error(`dashboard: cannot compile ${file}: ${String(error)}`)
        }
      }
      for (const partial of partials) hb.registerPartial(path.basename(partial.file, ".hbs"), compile(partial))
      const templates = {
        page: compile(sources.page),
        fragments: compile(sources.fragments),
        linkPage: compile<LinkPageView>(sources.linkPage),
        batchPage: compile<BatchPageView>(sources.batchPage)
      }
      try {
        templates.page(pageView(samplePage))
        templates.fragments(pageView(samplePage))
        for (const view of sampleLinkPages) templates.linkPage(view)
        for (const view of sampleBatchPages) templates.batchPage(view)
      } catch (error) {
        throw new Error(`dashboard: a template fails: ${String(error)}`)
      }
      return templates
    }
    let compiled: Either.Either<ReturnType<typeof compileAll>, Error> | undefined
    /** The compiled templates; throws what is wrong with them, logged the first time. */
    const templates = () => {
      if (compiled === undefined) {
        try {
          compiled = Either.right(compileAll())
        } catch (error) {
          compiled = Either.left(error as Error)
          const logged = Effect.logError(`the dashboard's pages answer 500 (the probes and the API are not affected): ${(error as Error).message}`)
          Runtime.runSync(runtime)(logged.pipe(LogContext.annotate({ component: "http" })))
        }
      }
      if (Either.isLeft(compiled)) throw compiled.left
      return compiled.right
    }

    return {
      /** The whole page. */
      page: (input: PageInput): string => templates().page(pageView(input)),
      /** The live parts of the page, one `<template data-fragment=…>` each. */
      fragments: (input: PageInput): string => templates().fragments(pageView(input)),
      /** The page of a one-click silence link (`templates/dashboard/silence-link.hbs`). */
      linkPage: (view: LinkPageView): string => templates().linkPage(view),
      /** The page of one pending batch's messages (`templates/dashboard/batch.hbs`). */
      batchPage: (view: BatchPageView): string => templates().batchPage(view),
      /** The files of `templates/static/` by name. */
      staticFiles: (Either.isRight(loaded) ? loaded.right.files : new Map()) as ReadonlyMap<string, StaticFile>
    } as const
  })
}) {}
