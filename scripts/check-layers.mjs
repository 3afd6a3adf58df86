#!/usr/bin/env node
// The layer check (docs/architecture.md): every import in src/ points down a layer or stays in its
// own folder, session/ and restore/ do not import each other, and no module imports itself back
// through a cycle. Exit 1 with each violation. `node scripts/check-layers.mjs [--graph]`
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve('src');
// Lowest first. A module may import its own folder and any lower layer.
export const LAYERS = [
  ['errors.ts', 'version.ts', 'util'],
  ['summary'],
  ['postgres'],
  ['sinks'],
  // Client-side encryption of stored objects: below every store that seals or opens them.
  ['crypto'],
  ['stores', 'spool', 'copy'],
  ['session', 'restore'],
  ['lifecycle'],
  ['agent', 'testing'],
  // The public entry point; the CLI is a skin over it.
  ['index.ts'],
  ['cli'],
];
// Beside each other in one layer, and still never importing each other.
const APART = [['session', 'restore']];
// The CLI is a skin over the public API: its static imports are the package's entry points, plus
// the ground and summary/ (dependency-free modules the entry re-exports) that every command's
// start-up needs. A dynamic import may reach further down: archive-push/archive-get run once per
// WAL file and load only their own path (docs/performance.md, row 9).
const CLI_MAY_IMPORT = ['index.ts', 'agent/index.ts', 'stores/s3.ts', 'testing/index.ts', 'errors.ts', 'version.ts', 'summary/', 'cli/'];

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function unitOf(file) {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.split('/')[0] : rel;
}

function layerOf(unit) {
  const index = LAYERS.findIndex((layer) => layer.includes(unit));
  if (index < 0) throw new Error(`src/${unit} is in no layer: add it to LAYERS in scripts/check-layers.mjs`);
  return index;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

const staticImports = new Map();

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  const statics = [];
  for (const match of text.matchAll(IMPORT)) {
    const target = resolve(dirname(file), (match[1] ?? match[2]).replace(/\.js$/, '.ts'));
    out.push(target);
    if (match[1] !== undefined) statics.push(target);
  }
  staticImports.set(file, statics);
  return out;
}

const graph = new Map(files(SRC).map((f) => [f, importsOf(f)]));
const problems = [];
for (const [file, targets] of graph) {
  const from = unitOf(file);
  for (const target of targets) {
    if (!graph.has(target)) {
      problems.push(`${relative('.', file)} imports ${relative('.', target)}, which does not exist`);
      continue;
    }
    const to = unitOf(target);
    if (from === to) continue;
    if (layerOf(to) > layerOf(from)) problems.push(`${relative('.', file)} (${from}) imports up into ${to}: ${relative('.', target)}`);
    else if (APART.some((pair) => pair.includes(from) && pair.includes(to))) problems.push(`${relative('.', file)} (${from}) imports ${to}, which it must stay apart from: ${relative('.', target)}`);
  }
}

for (const [file, targets] of staticImports) {
  if (unitOf(file) !== 'cli') continue;
  for (const target of targets) {
    const rel = relative(SRC, target);
    if (!CLI_MAY_IMPORT.some((allowed) => (allowed.endsWith('/') ? rel.startsWith(allowed) : rel === allowed))) {
      problems.push(`${relative('.', file)} imports ${relative('.', target)}: the CLI imports the public entry points (or loads a module on demand)`);
    }
  }
}

// Cycles between modules (type-only imports included: they still tie the modules' designs).
const state = new Map();
const stack = [];
function visit(file) {
  state.set(file, 'open');
  stack.push(file);
  for (const target of graph.get(file) ?? []) {
    if (!graph.has(target)) continue;
    if (state.get(target) === 'open') {
      const cycle = stack.slice(stack.indexOf(target)).concat(target);
      problems.push(`import cycle: ${cycle.map((f) => relative('.', f)).join(' -> ')}`);
    } else if (!state.has(target)) visit(target);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (process.argv.includes('--graph')) {
  const edges = new Set();
  for (const [file, targets] of graph) for (const t of targets) if (graph.has(t) && unitOf(file) !== unitOf(t)) edges.add(`${unitOf(file)} -> ${unitOf(t)}`);
  console.log([...edges].sort().join('\n'));
}
if (problems.length > 0) {
  console.error(`layer check: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exit(1);
}
console.error(`layer check: ${graph.size} modules, every import points down, no cycle`);
