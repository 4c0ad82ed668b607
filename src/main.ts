#!/usr/bin/env node
/** failmail's entry point: wiring only. */
// Modules, not the package index, which loads all of @effect/platform (resident memory).
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { program, teardown } from "./layers/Program.ts"

program(process.argv.slice(2), process.env).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
)
