// Lint (a dotfile, to keep the top level to the project's own folders; npm run lint names it):
// typescript-eslint's recommended rules over the TypeScript of the project (npm run lint,
// run by .ci/run). `any` is allowed for now: rows from hand-written SQL are untyped until the
// entities type them (issue 18); every other rule is an error.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "schema/", "data/", ".ci/", ".*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
);
