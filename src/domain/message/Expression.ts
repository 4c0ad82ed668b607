/**
 * `--batch-expr` / `--group-expr`: Handlebars templates rendered against one
 * received message; messages with the same rendered key share a batch (or a
 * group). The original failmail's Go-template forms (`.Header.Get "Name"`,
 * back-quoted raw strings) are rewritten to Handlebars before compiling.
 */
import { Either } from "effect"
import Handlebars from "handlebars"
import type { MessageView } from "./Message.ts"
import { normalize } from "./Normalize.ts"

/** A compiled key expression. */
export interface Expression {
  /** The expression as the user wrote it. */
  readonly source: string
  /** The key for one message, or a one-line warning (the caller then uses key `""`). Never throws. */
  readonly evaluate: (view: MessageView) => Either.Either<string, string>
}

/** A regular expression that did not compile when a helper ran. */
class RegexpError extends Error {
  constructor(
    readonly pattern: string,
    readonly reason: string
  ) {
    super(`invalid regular expression "${pattern}": ${reason}`)
  }
}

/** Compiled regular expressions (or why they did not compile), by flags and pattern. */
const regexpCache = new Map<string, RegExp | RegexpError>()

/** Bound on `regexpCache`: patterns may come from message fields, so it is cleared when full. */
const REGEXP_CACHE_LIMIT = 1_000

/** Go RE2 syntax that JavaScript spells differently: a leading `(?flags)` group and `(?P<name>…)`. */
const fromGoRegexp = (pattern: string, flags: string): [string, string] => {
  const leading = /^\(\?([ims]+)\)/.exec(pattern)
  const body = leading === null ? pattern : pattern.slice(leading[0].length)
  const extra = leading === null ? "" : [...new Set(leading[1] ?? "")].filter((flag) => !flags.includes(flag)).join("")
  return [body.replace(/\(\?P</g, "(?<"), flags + extra]
}

/** The compiled RegExp for `pattern`, cached; throws `RegexpError` if it is invalid. */
const regexp = (pattern: string, flags: string): RegExp => {
  const key = `${flags}/${pattern}`
  let cached = regexpCache.get(key)
  if (cached === undefined) {
    try {
      const [source, allFlags] = fromGoRegexp(pattern, flags)
      cached = new RegExp(source, allFlags)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      cached = new RegexpError(pattern, message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, ""))
    }
    if (regexpCache.size >= REGEXP_CACHE_LIMIT) regexpCache.clear()
    regexpCache.set(key, cached)
  }
  if (cached instanceof RegexpError) throw cached
  return cached
}

/**
 * Go's `${name}` / `${1}` replacement references in JavaScript form
 * (`$<name>`, `$01`); `$$` stays a literal dollar.
 */
const fromGoReplacement = (replacement: string): string =>
  replacement.replace(/\$(\$|\{(\w+)\})/g, (whole, _dollarOrBrace: string, name: string | undefined) => {
    if (name === undefined) return whole
    if (!/^\d+$/.test(name)) return `$<${name}>`
    const index = Number(name)
    if (index === 0) return "$&"
    return index < 100 ? `$${String(index).padStart(2, "0")}` : ""
  })

/** A helper argument as text: `""` for null/undefined, `String(value)` otherwise. */
const text = (value: unknown): string => (value === null || value === undefined ? "" : String(value))

/** The context an expression sees; plain objects only (Handlebars refuses prototype properties). */
interface Context {
  readonly subject: string
  readonly from: string
  readonly to: string
  readonly date: string
  readonly body: string
  readonly envelope: { readonly from: string; readonly to: Array<string> }
  readonly headers: Record<string, string>
}

/** The template context for one message. */
const toContext = (view: MessageView): Context => ({
  subject: view.subject,
  from: view.from,
  to: view.to,
  date: view.date,
  body: view.body,
  envelope: { from: view.envelope.mailFrom, to: Array.from(view.envelope.rcptTo) },
  headers: Object.assign({}, view.headers)
})

/** The positional arguments of a helper call (Handlebars appends an options object). */
const params = (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => args.slice(0, -1)

/** The options object Handlebars passes last to a helper. */
const options = (args: ReadonlyArray<unknown>): Handlebars.HelperOptions =>
  args[args.length - 1] as Handlebars.HelperOptions

/** failmail's expression helpers, by name. */
const HELPERS: Record<string, (...args: Array<unknown>) => string> = {
  header: (...args) => {
    const name = text(params(args)[0]).toLowerCase()
    const root = (options(args).data as { root?: Partial<Context> } | undefined)?.root
    const headers = root?.headers ?? {}
    return Object.prototype.hasOwnProperty.call(headers, name) ? text(headers[name]) : ""
  },
  match: (...args) => {
    const [pattern, input] = params(args)
    return regexp(text(pattern), "").exec(text(input))?.[0] ?? ""
  },
  replace: (...args) => {
    const [pattern, input, replacement] = params(args)
    return text(input).replace(regexp(text(pattern), "g"), fromGoReplacement(text(replacement)))
  },
  normalize: (...args) => normalize(text(params(args)[0])),
  lower: (...args) => text(params(args)[0]).toLowerCase(),
  upper: (...args) => text(params(args)[0]).toUpperCase(),
  trim: (...args) => text(params(args)[0]).trim()
}

/** The isolated Handlebars environment with failmail's helpers (built-in helpers stay available). */
const handlebars = Handlebars.create()
for (const [name, helper] of Object.entries(HELPERS)) handlebars.registerHelper(name, helper)

type CompileOptions = NonNullable<Parameters<typeof Handlebars.compile>[1]>

/** Never HTML-escape; missing fields render `""`; unknown helpers are compile errors. */
const COMPILE_OPTIONS: CompileOptions = {
  noEscape: true,
  strict: false,
  knownHelpersOnly: true,
  knownHelpers: Object.fromEntries(Object.keys(HELPERS).map((name) => [name, true]))
}

/** The view the template is first run against, to force compilation. */
const EMPTY_VIEW: MessageView = {
  subject: "",
  from: "",
  to: "",
  date: "",
  body: "",
  headers: {},
  envelope: { mailFrom: "", rcptTo: [] }
}

/** An error as one line: Handlebars parse errors keep their first and last lines. */
const oneLine = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  const lines = message
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
  const kept = lines.length > 2 && /^Parse error/.test(lines[0] ?? "") ? [lines[0], lines[lines.length - 1]] : lines
  return kept.join(" ")
}

/** Whether `char` is whitespace (`undefined` past either end is not). */
const isSpace = (char: string | undefined): boolean => char !== undefined && /\s/.test(char)

/** Characters that may stand right before `.Header.Get` inside a mustache. */
const isOperandStart = (char: string | undefined): boolean =>
  char === undefined || isSpace(char) || char === "(" || char === "{" || char === "~"

/** Characters that may stand right after `.Header.Get`. */
const isOperandEnd = (char: string | undefined): boolean =>
  char === undefined || isSpace(char) || char === ")" || char === "}" || char === "~"

/** The index just past a string literal opened by `quote` at `start` (Handlebars allows `\"` inside). */
const endOfString = (source: string, start: number, quote: string): number => {
  let i = start + 1
  while (i < source.length && source[i] !== quote) i += source[i] === "\\" && source[i + 1] === quote ? 2 : 1
  return Math.min(i + 1, source.length)
}

/**
 * Rewrites the original failmail's Go-template forms into Handlebars: inside
 * `{{…}}`, `.Header.Get` becomes the `header` helper, back-quoted raw strings
 * become double-quoted literals, and the `{{- ` / ` -}}` trim markers become
 * `{{~ ` / ` ~}}`. Text outside mustaches, string literals and comments is kept.
 */
export const fromGoTemplate = (source: string): string => {
  let out = ""
  let i = 0
  while (i < source.length) {
    const open = source.indexOf("{{", i)
    if (open === -1) {
      out += source.slice(i)
      break
    }
    out += source.slice(i, open)
    // `\{{` is an escaped (literal) mustache in Handlebars.
    if (source[open - 1] === "\\" && source[open - 2] !== "\\") {
      out += "{{"
      i = open + 2
      continue
    }
    // Comments are copied verbatim: `{{!-- … --}}` may contain `}}`, `{{! … }}` may not.
    if (source.startsWith("{{!", open)) {
      const close = source.startsWith("{{!--", open) ? source.indexOf("--}}", open + 5) : source.indexOf("}}", open + 3)
      const end = close === -1 ? source.length : close + (source.startsWith("--}}", close) ? 4 : 2)
      out += source.slice(open, end)
      i = end
      continue
    }
    if (source[open + 2] === "-" && isSpace(source[open + 3])) {
      out += "{{~"
      i = open + 3
    } else {
      out += "{{"
      i = open + 2
    }
    // Inside the mustache, up to its `}}`.
    while (i < source.length) {
      const char = source[i]
      if (char === "}" && source[i + 1] === "}") {
        if (out.endsWith("-") && isSpace(out[out.length - 2])) out = out.slice(0, -1) + "~"
        out += "}}"
        i += 2
        break
      }
      if (char === '"' || char === "'") {
        const end = endOfString(source, i, char)
        out += source.slice(i, end)
        i = end
      } else if (char === "`") {
        const close = source.indexOf("`", i + 1)
        if (close === -1) {
          out += source.slice(i)
          i = source.length
        } else {
          out += `"${source.slice(i + 1, close).replace(/"/g, '\\"')}"`
          i = close + 1
        }
      } else if (
        source.startsWith(".Header.Get", i) &&
        isOperandStart(source[i - 1]) &&
        isOperandEnd(source[i + ".Header.Get".length])
      ) {
        out += "header"
        i += ".Header.Get".length
      } else {
        out += char
        i += 1
      }
    }
  }
  return out
}

/**
 * The header an expression that is nothing but one header lookup reads
 * (`{{header "Subject"}}`, `{{.Header.Get "X-Failmail-Split"}}`: both
 * defaults), lower-cased; `undefined` for any other expression.
 */
const soleHeader = (template: string): string | undefined =>
  /^\{\{header "([A-Za-z0-9-]+)"\}\}$/.exec(template)?.[1]?.toLowerCase()

/**
 * Compiles a `--batch-expr` / `--group-expr` value. Syntax errors and unknown
 * helpers are reported now, as one line naming the setting (`name`); an
 * invalid regular expression is reported by `evaluate`, per message.
 * An expression that only reads one header skips the template engine per
 * message: it renders exactly what the `header` helper would.
 */
export const compile = (source: string, name: string): Either.Either<Expression, string> => {
  const handlebarsSource = fromGoTemplate(source)
  const header = soleHeader(handlebarsSource)
  if (header !== undefined) {
    return Either.right({
      source,
      evaluate: (view) =>
        Either.right(Object.prototype.hasOwnProperty.call(view.headers, header) ? text(view.headers[header]) : "")
    })
  }
  const template = handlebars.compile<Context>(handlebarsSource, COMPILE_OPTIONS)
  try {
    // Handlebars compiles lazily, on the first call: force it now so errors surface at start.
    template(toContext(EMPTY_VIEW))
  } catch (error) {
    if (!(error instanceof RegexpError)) {
      return Either.left(`${name}: invalid expression ${JSON.stringify(source)}: ${oneLine(error)}`)
    }
  }
  return Either.right({
    source,
    evaluate: (view) => {
      try {
        return Either.right(template(toContext(view)))
      } catch (error) {
        return Either.left(`${name}: ${oneLine(error)}`)
      }
    }
  })
}
