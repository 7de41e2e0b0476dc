/**
 * The `nexus` command tree and its main program.
 *
 * @since 0.1.0
 */
import { Command } from "effect/cli"
import { accounts } from "./commands/accounts.ts"
import { chat } from "./commands/chat.ts"
import { db } from "./commands/db.ts"
import { demo } from "./commands/demo.ts"
import { gateway, serve } from "./commands/gateway.ts"
import { models } from "./commands/models.ts"
import { queue } from "./commands/queue.ts"
import { route } from "./commands/route.ts"
import { keys } from "./commands/keys.ts"
import { login } from "./commands/login.ts"
import { logout } from "./commands/logout.ts"
import { status } from "./commands/status.ts"
import { token } from "./commands/token.ts"
import { worker } from "./commands/worker.ts"
import { run } from "./Run.ts"

/**
 * `nexus`, with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const nexus = Command.make("nexus").pipe(
  Command.withDescription(
    "Nexus: run LLM work on ChatGPT subscriptions — sign-ins, a PostgreSQL queue, routed workers"
  ),
  Command.withExamples([
    { command: "nexus demo", description: "See the whole of Nexus run offline" },
    { command: "nexus login --label work", description: "Sign a ChatGPT account in" },
    {
      command: 'nexus chat "Summarise RFC 8628 in one line"',
      description: "Ask once, on the account the router chooses"
    }
  ]),
  Command.withSubcommands([
    demo,
    login,
    status,
    accounts,
    token,
    logout,
    chat,
    route,
    models,
    queue,
    worker,
    serve,
    gateway,
    keys,
    db
  ])
)

/**
 * Runs `nexus` with the process's arguments.
 *
 * @since 0.1.0
 * @category running
 */
export const main = run(nexus)
