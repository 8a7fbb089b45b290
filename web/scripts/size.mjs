// Prints the gzipped JavaScript each console page needs on a first visit
// and fails the build when one is over the budget. A first visit to page P
// loads the entry chunk and its static imports (the shell, with the
// overview) plus P's lazily loaded chunk and its imports.
import { readFileSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const BUDGET_KB = 150;
const dist = fileURLToPath(new URL("../dist/console/", import.meta.url));
const manifest = JSON.parse(readFileSync(`${dist}.vite/manifest.json`, "utf8"));

const gz = new Map();
function gzKB(file) {
  if (!gz.has(file)) gz.set(file, gzipSync(readFileSync(dist + file), { level: 9 }).length / 1024);
  return gz.get(file);
}
function closure(key, seen = new Set()) {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const imp of manifest[key]?.imports ?? []) closure(imp, seen);
  return seen;
}
const js = (keys) => [...keys].map((k) => manifest[k].file).filter((f) => f.endsWith(".js"));
const sum = (files) => files.reduce((a, f) => a + gzKB(f), 0);

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
const shell = closure(entryKey);
const shellKB = sum(js(shell));
const rows = [["overview (shell)", shellKB]];
for (const key of manifest[entryKey].dynamicImports ?? []) {
  const extra = [...closure(key)].filter((k) => !shell.has(k));
  const name = key.replace(/^src\/pages\//, "").replace(/Page\.vue$/, "").toLowerCase();
  rows.push([name, shellKB + sum(js(extra))]);
}
console.log("\nconsole JS per first page (gzipped, budget %d KB):", BUDGET_KB);
for (const [name, kb] of rows) console.log(`  ${name.padEnd(18)} ${kb.toFixed(1).padStart(7)} KB`);
const worst = rows.reduce((a, b) => (b[1] > a[1] ? b : a));
// The manifest is for this script; the binary need not serve it.
rmSync(`${dist}.vite`, { recursive: true, force: true });
if (worst[1] > BUDGET_KB) {
  console.error(`over budget: ${worst[0]} needs ${worst[1].toFixed(1)} KB > ${BUDGET_KB} KB`);
  process.exit(1);
}
console.log(`largest first page: ${worst[0]}, ${worst[1].toFixed(1)} KB of ${BUDGET_KB} KB\n`);
