/**
 * Every GraphQL document the tests send is valid against the schema: when the schema changes
 * under a test's document, this fails here, naming the file and the document, rather than as some
 * test's puzzling `undefined`. Documents are read from the test sources: template literals that
 * start with `query`, `mutation`, `subscription` or `{`. A constant selection interpolated in
 * them (`${PAYLOAD_FIELDS}`) is filled in from the file or from helpers/operations.ts; a document
 * built at run time from other expressions (the fuzzer's, the limits' deep documents) cannot be
 * read here and is left out. A document sent invalid on purpose carries the comment
 * INVALID_TAG right before it.
 */
import "reflect-metadata";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GraphQLSchema, parse, validate } from "graphql";
import { getSchema } from "../../src/schema";

const INVALID_TAG = "/* invalid on purpose */";
const ROOT = join(__dirname, "..");
const SOURCES = [...readdirSync(join(ROOT, "e2e")).map((f) => join("e2e", f)), join("helpers", "operations.ts")].filter((f) => f.endsWith(".ts"));

interface Found {
  file: string;
  line: number;
  text: string;
  invalidOnPurpose: boolean;
}

/** Template literals of a source, with `${NAME}` left as written. */
function templateLiterals(source: string): Array<{ at: number; body: string }> {
  const found: Array<{ at: number; body: string }> = [];
  const literal = /`((?:[^`\\$]|\\.|\$(?!\{)|\$\{[^{}`]*(?:\{[^{}`]*\}[^{}`]*)*\})*)`/g;
  for (let m = literal.exec(source); m; m = literal.exec(source)) found.push({ at: m.index, body: m[1] });
  return found;
}

/** `const NAME = \`...\`` constants of a source: the selections documents interpolate. */
function constants(source: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of source.matchAll(/(?:export\s+)?const\s+([A-Z][A-Z0-9_]*)\s*=\s*`([^`]*)`/g)) map.set(m[1], m[2]);
  return map;
}

function documentsOf(file: string, shared: Map<string, string>): { checked: Found[]; generated: number } {
  const source = readFileSync(join(ROOT, file), "utf8");
  const known = new Map([...shared, ...constants(source)]);
  const checked: Found[] = [];
  let generated = 0;
  for (const { at, body } of templateLiterals(source)) {
    // A JSON request body (`{"query": …}`) starts with a brace too, but is not a document.
    if (!/^\s*(query|mutation|subscription|\{)/.test(body) || /^\s*\{\s*"/.test(body)) continue;
    let text = body;
    // Filled in until no known constant is left (a constant may interpolate another).
    for (let i = 0; i < 5 && /\$\{\s*[A-Z][A-Z0-9_]*\s*\}/.test(text); i++)
      text = text.replace(/\$\{\s*([A-Z][A-Z0-9_]*)\s*\}/g, (all, name) => known.get(name) ?? all);
    if (text.includes("${")) {
      generated++;
      continue;
    }
    checked.push({ file, line: source.slice(0, at).split("\n").length, text, invalidOnPurpose: source.slice(Math.max(0, at - 80), at).includes(INVALID_TAG) });
  }
  return { checked, generated };
}

const shared = constants(readFileSync(join(ROOT, "helpers", "operations.ts"), "utf8"));
const all = SOURCES.map((file) => documentsOf(file, shared));
const documents = all.flatMap((d) => d.checked);

/** The errors of a document against the schema: its syntax, then its validation. */
function problems(schema: GraphQLSchema, text: string): string[] {
  try {
    return validate(schema, parse(text)).map((e) => e.message);
  } catch (err) {
    return [(err as Error).message];
  }
}

describe("the tests' GraphQL documents", () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await getSchema();
  });

  it("finds the documents (the reading of the sources still works)", () => {
    // Well over 300 documents today; a broken reader would find few or none.
    expect(documents.length).toBeGreaterThan(300);
    expect(documents.some((d) => d.file.endsWith("operations.ts") && d.text.includes("recordPurchase"))).toBe(true);
    expect(documents.filter((d) => d.invalidOnPurpose).length).toBeGreaterThan(0);
  });

  it("are all valid against the schema, but those sent invalid on purpose", () => {
    const invalid = documents
      .filter((d) => !d.invalidOnPurpose)
      .map((d) => ({ where: `${d.file}:${d.line}`, problems: problems(schema, d.text) }))
      .filter((d) => d.problems.length > 0);
    expect(invalid).toEqual([]);
  });

  it("are invalid where a test says so (a tag left on a document that became valid misleads)", () => {
    const valid = documents.filter((d) => d.invalidOnPurpose && problems(schema, d.text).length === 0).map((d) => `${d.file}:${d.line}`);
    expect(valid).toEqual([]);
  });
});
