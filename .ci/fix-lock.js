#!/usr/bin/env node
// Usage: node .ci/fix-lock.js package-lock.json   (after any `npm install` that changes the lock)
//
// The npm registry mirror here serves only some platforms' builds of packages with native
// bindings (jest 30's unrs-resolver has 20). npm then writes a lock without the others, and
// `npm ci` refuses it ("Missing: @unrs/resolver-binding-darwin-x64@ from lock file"). This adds
// the missing optional entries with the os/cpu/libc their names state, as a complete lock would
// have them, so `npm ci` accepts the lock and skips them on Linux x64 (and installs them elsewhere).
const fs = require('fs');
const file = process.argv[2];
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pk = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(pk)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies || {})) {
    const key = `node_modules/${name}`;
    if (pk[key]) continue;
    const m = /-(android|darwin|freebsd|linux|openharmony|win32|wasm32)-([a-z0-9]+)(?:-(gnu|musl|gnueabihf|musleabihf|eabi|msvc|wasi))?$/.exec(name);
    if (!m) { console.error('cannot infer platform of', name); process.exit(1); }
    const [, os, cpu, abi] = m;
    const e = { version, dev: entry.dev || undefined, optional: true, os: [os === 'wasm32' ? undefined : os].filter(Boolean), cpu: [os === 'wasm32' ? 'wasm32' : cpu === 'arm' ? 'arm' : cpu] };
    if (abi && /gnu/.test(abi)) e.libc = ['glibc'];
    if (abi && /musl/.test(abi)) e.libc = ['musl'];
    if (!e.os.length) delete e.os;
    pk[key] = e; added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log('added', added);
