/**
 * The one configuration builder of the tests: failmail's defaults, made safe
 * for a test, with what the test changes on top.
 */
import { Duration } from "effect"
import * as path from "node:path"
import * as Settings from "../../src/domain/settings/Settings.ts"
import type { RunningConfig } from "../../src/services/runtime/AppConfig.ts"

/**
 * The defaults (host name `test`) with no config file, SMTP on 127.0.0.1
 * port 0, HTTP off, the spool (`spool/`) and fail-dir (`failed/`) under
 * `dir`, and a relay address that goes nowhere; then `overrides`.
 */
export const testConfig = (dir: string, overrides: Partial<RunningConfig> = {}): RunningConfig => ({
  ...Settings.defaults({ hostname: "test" }),
  configFile: "",
  bindAddr: "127.0.0.1:0",
  bindHttp: "",
  messageStore: path.join(dir, "spool"),
  failDir: path.join(dir, "failed"),
  relayAddr: "unused:25",
  ...overrides
})

/**
 * Short windows for a failmail on the real clock: a lone message is
 * summarized within a second, a relay that does not answer is given up on
 * within seconds, and a stop does not wait long for open sessions.
 */
export const QUICK: Partial<RunningConfig> = {
  waitPeriod: Duration.millis(300),
  maxWait: Duration.seconds(5),
  relayTimeout: Duration.seconds(2),
  relayRetryFor: Duration.seconds(5),
  shutdownTimeout: Duration.seconds(1)
}
