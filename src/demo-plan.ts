/**
 * Whether this start seeds the demo program, and whether it prints the demo's keys.
 *
 * The demo is for `npm start` on the embedded database. On a server database (DATABASE_URL, i.e.
 * production) a first start used to seed "Demo Coffee" and print live ADMIN and PARTNER keys to
 * stdout, where the process's log is collected: so it seeds there only when LOYALTY_SEED_DEMO asks
 * for it (config.seedDemo defaults to the embedded database only), and prints the keys only to a
 * terminal (a person reading them once), never into a collected log. The embedded demo prints them
 * as before: that is how its user gets in.
 */
export function demoSeedPlan(options: { seedDemo: boolean; embedded: boolean; terminal: boolean }): { seed: boolean; printKeys: boolean } {
  return { seed: options.seedDemo, printKeys: options.seedDemo && (options.embedded || options.terminal) };
}
