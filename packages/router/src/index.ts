/**
 * @since 0.1.0
 */

/**
 * The routing policy: rules from (complexity, task type) to candidate models, the pool's limits.
 *
 * @since 0.1.0
 */
export * as RoutingPolicy from "./RoutingPolicy.ts"

/**
 * What the router is asked and what it answers: the request, the plan, the skipped candidates.
 *
 * @since 0.1.0
 */
export * as Route from "./Route.ts"

/**
 * The pool of signed-in accounts, their windows, blocks, cooldowns and requests in flight.
 *
 * @since 0.1.0
 */
export * as AccountPool from "./AccountPool.ts"

/**
 * The router: plans, and runs turns through their plans with fallbacks.
 *
 * @since 0.1.0
 */
export * as Router from "./Router.ts"

/**
 * The router's schema migrations.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"

/**
 * The router as an `effect/ai` LanguageModel: every call routed, with fallbacks.
 *
 * @since 0.1.0
 */
export * as RoutedLanguageModel from "./RoutedLanguageModel.ts"
