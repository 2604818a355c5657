/**
 * GraphiQL at GET /graphql, served from this package's own node_modules (no CDN: people run the
 * platform offline). The header editor takes `{"Authorization": "Bearer <key>"}`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const ASSETS: Record<string, { pkg: string; file: string; type: string }> = {
  "/graphiql/react.js": { pkg: "react", file: "umd/react.production.min.js", type: "text/javascript" },
  "/graphiql/react-dom.js": { pkg: "react-dom", file: "umd/react-dom.production.min.js", type: "text/javascript" },
  "/graphiql/graphiql.js": { pkg: "graphiql", file: "graphiql.min.js", type: "text/javascript" },
  "/graphiql/graphiql.css": { pkg: "graphiql", file: "graphiql.min.css", type: "text/css" },
};

/** A package's folder, found from its entry point (its `exports` hide the UMD files from require.resolve). */
function packageRoot(pkg: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, "package.json")) || JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name !== pkg) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the folder of ${pkg}`);
    dir = parent;
  }
  return dir;
}

const cache = new Map<string, Buffer>();

export function graphiqlAsset(path: string): { body: Buffer; type: string } | null {
  const asset = ASSETS[path];
  if (!asset) return null;
  let body = cache.get(path);
  if (!body) {
    body = readFileSync(join(packageRoot(asset.pkg), asset.file));
    cache.set(path, body);
  }
  return { body, type: asset.type };
}

export const GRAPHIQL_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>Loyalty ladder · GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/graphiql.css" />
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="/graphiql/react.js"></script>
  <script src="/graphiql/react-dom.js"></script>
  <script src="/graphiql/graphiql.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: location.origin + "/graphql" });
    const root = ReactDOM.createRoot(document.getElementById("graphiql"));
    root.render(React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: "# Add your key in the Headers tab below, then run:\\n#   { \\"Authorization\\": \\"Bearer lk_...\\" }\\n{\\n  programs { id name stages { key name } }\\n}\\n",
    }));
  </script>
</body>
</html>`;
