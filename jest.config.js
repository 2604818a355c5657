/** Tests run against a real PostgreSQL: DATABASE_URL's server (a fresh database per file), else embedded PGlite. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.test.json", diagnostics: { ignoreCodes: [151002] } }] },
  testTimeout: 60_000,
  // Each file starts its own server and database; two at a time fits a 2-core machine.
  maxWorkers: 2,
};
