/**
 * `--rewrite-src` / `--rewrite-dest`: recipient rewriting as the original
 * failmail did it. An address the (unanchored) pattern matches is replaced
 * entirely by the expansion of the destination for each match; other
 * addresses are kept. The result is de-duplicated.
 */

/** Expands `$1`, `${1}`, `$name` and `${name}` in `template` from one match. */
const expand = (template: string, match: RegExpMatchArray): string =>
  template.replace(/\$(?:\{(\w+)\}|(\w+)|\$)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    if (whole === "$$") return "$"
    const name = braced ?? bare ?? ""
    const value = /^\d+$/.test(name) ? match[Number(name)] : match.groups?.[name]
    return value ?? ""
  })

/** A recipient rewriting rule, or `undefined` when rewriting is off. */
export type Rule = { readonly pattern: RegExp; readonly destination: string } | undefined

/** Builds the rule from the two settings (both empty: no rewriting). */
export const makeRule = (source: string, destination: string): Rule =>
  source === "" ? undefined : { pattern: new RegExp(source, "g"), destination }

/**
 * Every match of a global pattern, as Go's `FindAll` reports them: an empty
 * match right where the previous match ended is skipped (JavaScript reports
 * it, so `.*` would otherwise match `a@b` twice: `a@b`, then `""` at the end).
 */
const allMatches = (pattern: RegExp, text: string): Array<RegExpMatchArray> => {
  const matches: Array<RegExpMatchArray> = []
  let previousEnd = -1
  for (const match of text.matchAll(pattern)) {
    const start = match.index ?? 0
    if (match[0] === "" && start === previousEnd) continue
    matches.push(match)
    previousEnd = start + match[0].length
  }
  return matches
}

/** Rewrites a list of recipients. */
export const rewriteAll = (rule: Rule, addresses: ReadonlyArray<string>): ReadonlyArray<string> => {
  const rewritten =
    rule === undefined
      ? addresses
      : addresses.map((address) => {
          const matches = allMatches(rule.pattern, address)
          return matches.length === 0 ? address : matches.map((match) => expand(rule.destination, match)).join("")
        })
  return [...new Set(rewritten)]
}
