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
  Command.withDescription("Nexus: ChatGPT sign-ins for the LLM worker fleet, kept in PostgreSQL"),
  Command.withSubcommands([demo, login, status, accounts, token, logout, chat, route, models, queue, worker, keys, db])
)

/**
 * Runs `nexus` with the process's arguments.
 *
 * @since 0.1.0
 * @category running
 */
export const main = run(nexus)
