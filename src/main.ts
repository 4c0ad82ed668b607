#!/usr/bin/env node
/** failmail's entry point: wiring only. */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { program, teardown } from "./layers/Program.ts"

program(process.argv.slice(2), process.env).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
)
