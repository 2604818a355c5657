/**
 * Production starts (DATABASE_URL) seed no demo unless asked, and never put its keys in a collected
 * log; the logger redacts credentials whatever a log call passes.
 */
import { Writable } from "node:stream";
import { demoSeedPlan } from "../../src/demo-plan";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";

describe("demo seed plan", () => {
  /** The decision as a start makes it: LOYALTY_SEED_DEMO as given (undefined: unset), the database, a terminal or not. */
  const plan = (requested: string | undefined, embedded: boolean, terminal = false) => {
    const config = loadConfig({
      ...(requested !== undefined ? { LOYALTY_SEED_DEMO: requested } : {}),
      ...(embedded ? {} : { DATABASE_URL: "postgresql://x@127.0.0.1/db" }),
    });
    return demoSeedPlan({ seedDemo: config.seedDemo, embedded: !config.databaseUrl, terminal });
  };

  it("seeds the embedded database by default and prints its keys (npm start)", () => {
    expect(plan(undefined, true)).toEqual({ seed: true, printKeys: true });
    expect(plan("", true)).toEqual({ seed: true, printKeys: true });
  });

  it("does not seed a server database unless LOYALTY_SEED_DEMO asks", () => {
    expect(plan(undefined, false)).toEqual({ seed: false, printKeys: false });
    expect(plan(undefined, false, true)).toEqual({ seed: false, printKeys: false });
    expect(plan("false", true)).toEqual({ seed: false, printKeys: false });
  });

  it("seeds a server database when asked, printing the keys only to a terminal", () => {
    expect(plan("true", false)).toEqual({ seed: true, printKeys: false });
    expect(plan("true", false, true)).toEqual({ seed: true, printKeys: true });
  });
});

describe("logger", () => {
  it("redacts credentials, secrets and tokens, at the top level and one down", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger("info", sink);
    log.info(
      {
        secret: "s1",
        token: "t1",
        authorization: "Bearer k1",
        adminKey: "lk_a",
        partnerKey: "lk_p",
        password: "pw",
        req: { headers: { authorization: "Bearer k2" } },
        headers: { authorization: "Bearer k3" },
        connectionParams: { authorization: "Bearer k4" },
        webhook: { secret: "s2" },
        program: { tokenSecret: "s3", token_secret: "s4" },
        customer: { token: "t2" },
        programId: "kept",
      },
      "hello",
    );
    expect(lines).toHaveLength(1);
    const text = lines[0];
    for (const secret of ["s1", "s2", "s3", "s4", "t1", "t2", "k1", "k2", "k3", "k4", "lk_a", "lk_p", "pw"]) expect(text).not.toContain(`"${secret}"`);
    expect(text).not.toMatch(/Bearer/);
    expect(JSON.parse(text)).toMatchObject({ programId: "kept", msg: "hello", secret: "[Redacted]", webhook: { secret: "[Redacted]" } });
  });
});
