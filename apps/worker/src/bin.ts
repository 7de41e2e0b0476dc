#!/usr/bin/env node
/**
 * The `nexus-worker` executable: `nexus worker`, on its own.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { run } from "@nexus/cli/Cli"
import { make } from "@nexus/cli/worker"
import { Effect } from "effect"

run(make("nexus-worker")).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ disableErrorReporting: true }))
