/**
 * Whether this start seeds the demo program, and whether it prints the demo's keys.
 *
 * The demo is for `npm start` on the embedded database. On a server database (DATABASE_URL, i.e.
 * production) a first start used to seed "Demo Coffee" and print live ADMIN and PARTNER keys to
 * stdout, where the process's log is collected: so it seeds there only when LOYALTY_SEED_DEMO asks
 * for it explicitly (`requested`: the variable as given, unset or empty when not), and prints the
 * keys only to a terminal (a person reading them once), never into a collected log. The embedded
 * demo prints them as before: that is how its user gets in.
 */
export function demoSeedPlan(options: { requested: string | undefined; seedDemo: boolean; embedded: boolean; terminal: boolean }): { seed: boolean; printKeys: boolean } {
  const explicit = options.requested !== undefined && options.requested !== "";
  const seed = explicit ? options.seedDemo : options.embedded;
  return { seed, printKeys: seed && (options.embedded || options.terminal) };
}
