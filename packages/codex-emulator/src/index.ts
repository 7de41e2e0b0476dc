/**
 * @since 0.1.0
 */

/**
 * The emulator's data model: accounts, plans, budgets, fault rules, counters.
 *
 * @since 0.1.0
 */
export * as Domain from "./Domain.ts"

/**
 * The emulator service and its layer.
 *
 * @since 0.1.0
 */
export * as Emulator from "./Emulator.ts"
