#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2
/**
 * failmail's entry point: wiring only. The command is chosen first and only
 * its modules are loaded, so `failmail sendmail` (run by cron for every
 * job) starts without the daemon's.
 *
 * The first line caps V8's young generation at 2 MB a half (Node's default
 * lets it grow to 16 MB during start-up and keeps it) and fixes glibc's
 * malloc trim threshold at its default 128 KB (glibc otherwise raises it
 * after start-up frees large blocks, and keeps what it freed): together
 * about 30 MB less resident at rest, no throughput lost that
 * `npm run bench` can measure (docs/performance.md, "Memory at rest"). `npm start`, the
 * `failmail` bin and `./dist/main.js` run with them; `node dist/main.js`
 * does not.
 */
import { commandOf } from "./domain/settings/Command.ts"

const command = commandOf(process.argv[1] ?? "", process.argv.slice(2))

if (command._tag === "Subcommand" && command.name === "sendmail") {
  const { sendmail } = await import("./commands/Sendmail.ts")
  process.exit(await sendmail(command.args, process.env))
} else if (command._tag === "Subcommand" && (command.name === "silence" || command.name === "expect")) {
  const { apiCommand } = await import("./commands/ApiClient.ts")
  process.exit(await apiCommand(command.name, command.args, process.env))
} else {
  // Modules, not the package indexes: a dynamic import of an index keeps every module it exports
  // in the bundle and loads them all at start (all of @effect/platform; all of effect, fast-check included).
  const [NodeContext, NodeRuntime, Effect, { program, teardown }] = await Promise.all([
    import("@effect/platform-node/NodeContext"),
    import("@effect/platform-node/NodeRuntime"),
    import("effect/Effect"),
    import("./commands/Daemon.ts")
  ])
  const run =
    command._tag === "Daemon"
      ? program(command.args, process.env)
      : command.name === "spool"
        ? (await import("./commands/Spool.ts")).spool(command.args, process.env)
        : (await import("./commands/Preview.ts")).preview(command.args, process.env)
  run.pipe(
    Effect.provide(NodeContext.layer),
    NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
  )
}
