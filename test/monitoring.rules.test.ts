/**
 * `monitoring/alerts.yml` as Prometheus's own tool judges it: `promtool
 * check rules` (syntax, PromQL, templates) and `promtool test rules`
 * (`monitoring/alerts.test.yml`: each rule at times it must fire and at times
 * it must not), and that test file leaves no rule out.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { tempDir } from "./support/tempdir.ts"

const monitoring = path.resolve(import.meta.dirname, "..", "monitoring")

const promtool = (...args: ReadonlyArray<string>) => {
  const result = spawnSync("promtool", args, { cwd: monitoring, encoding: "utf8", timeout: 20_000 })
  if (result.error !== undefined) throw result.error
  return { status: result.status, output: result.stdout + result.stderr }
}

/** The alert names of alerts.yml, in order. */
const ruleNames = (): ReadonlyArray<string> =>
  [...fs.readFileSync(path.join(monitoring, "alerts.yml"), "utf8").matchAll(/^\s*- alert: (\w+)\s*$/gm)].map((match) => match[1] ?? "")

/**
 * For each alert name the test file evaluates: whether some evaluation
 * expects it firing (a non-empty `exp_alerts`) and some expects it silent (`exp_alerts: []`).
 */
const testedCases = (): Map<string, { firing: boolean; silent: boolean }> => {
  const cases = new Map<string, { firing: boolean; silent: boolean }>()
  for (const match of fs.readFileSync(path.join(monitoring, "alerts.test.yml"), "utf8").matchAll(/alertname: (\w+)\s*\n\s*exp_alerts:(.*)\n/g)) {
    const name = match[1] ?? ""
    const seen = cases.get(name) ?? { firing: false, silent: false }
    if ((match[2] ?? "").trim() === "[]") seen.silent = true
    else seen.firing = true
    cases.set(name, seen)
  }
  return cases
}

describe("monitoring/alerts.yml", () => {
  it("passes promtool check rules", () => {
    const result = promtool("check", "rules", "alerts.yml")
    expect(result.output).toContain(`SUCCESS: ${ruleNames().length} rules found`)
    expect(result.status, result.output).toBe(0)
  })

  it("passes promtool test rules (alerts.test.yml)", () => {
    const result = promtool("test", "rules", "alerts.test.yml")
    expect(result.status, result.output).toBe(0)
    expect(result.output).toContain("SUCCESS")
  })

  it("has every rule tested both firing and not firing", () => {
    const names = ruleNames()
    expect(names).toEqual(
      expect.arrayContaining([
        "FailmailDown",
        "FailmailSummariesFailing",
        "FailmailRelayRetrying",
        "FailmailRefusingMessages",
        "FailmailPendingGrowing",
        "FailmailPendingTooOld",
        "FailmailRelayBudgetHolding",
        "FailmailNoSender",
        "FailmailSeveralSenders",
        "FailmailExpectationMissing"
      ])
    )
    const cases = testedCases()
    for (const name of names) expect({ name, ...cases.get(name) }).toEqual({ name, firing: true, silent: true })
  })

  it("fails promtool test rules when a rule no longer fires as tested", () => {
    // The tests are not vacuous: the same tests against a rule made laxer fail.
    const dir = tempDir("failmail-rules-")
    try {
      const rules = fs.readFileSync(path.join(monitoring, "alerts.yml"), "utf8").replace("for: 15m", "for: 1m")
      fs.writeFileSync(path.join(dir, "alerts.yml"), rules)
      fs.copyFileSync(path.join(monitoring, "alerts.test.yml"), path.join(dir, "alerts.test.yml"))
      const result = promtool("test", "rules", path.join(dir, "alerts.test.yml"))
      expect(result.status).toBe(1)
      expect(result.output).toContain("FailmailRelayRetrying")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
