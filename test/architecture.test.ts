// The import rules of ARCHITECTURE.md as a test: every file under src/ is read, its imports (value
// and type, static and dynamic) are resolved, and any import across a forbidden line fails.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface SourceFile {
  /** Path relative to the repository root, with forward slashes (`src/fhir/tx.ts`). */
  path: string;
  text: string;
}

interface Import {
  from: string;
  /** The specifier as written. */
  spec: string;
  /** For relative specifiers: the imported file (`src/fhir/context.ts`); else the package name. */
  target: string;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function importsOf(file: SourceFile): Import[] {
  const out: Import[] = [];
  for (const m of stripComments(file.text).matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec) continue;
    let target = spec;
    if (spec.startsWith('.')) {
      target = join(dirname(file.path), spec).replace(/\\/g, '/').replace(/\.js$/, '.ts');
    } else {
      // The package name: `fastify`, `@types/fhir`, `fhirpath/fhir-context/r4` → `fhirpath`.
      const parts = spec.split('/');
      target = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0] ?? spec;
    }
    out.push({ from: file.path, spec, target });
  }
  return out;
}

export interface Violation {
  rule: string;
  file: string;
  detail: string;
}

const under = (path: string, ...dirs: string[]): boolean => dirs.some((d) => path === `${d}.ts` || path.startsWith(`${d}/`));

/** Layers that are below the HTTP layer and the auth layer: none of them may import Fastify. */
const NO_FASTIFY = ['src/fhir', 'src/operations', 'src/clinic', 'src/search', 'src/validation', 'src/definitions', 'src/store', 'src/fhir-basics', 'src/terminology', 'src/jobs'];
/** The composition root: the one place that wires layers (and opens the store). */
const ROOT_FILES = new Set(['src/app.ts', 'src/main.ts']);
const STORE_DRIVERS = new Set(['better-sqlite3', 'mongodb']);

/**
 * Known violations outside this rule set's owners, each named and explained, so a new one
 * fails while the old ones are moved. Key: `rule|file|detail`.
 */
export const KNOWN: ReadonlyMap<string, string> = new Map([
  // The authorization server's registry (clients, grants, tokens, keys, audit) is SQLite-only
  // today; it moves behind a store port with a MongoDB adapter later (ARCHITECTURE.md, shared state).
  ['store-drivers|src/auth/store.ts|better-sqlite3', 'auth registry on SQLite, to move behind a port'],
  // The audit log's SQLite writer (and the worker thread that runs it), behind the AuditWriter
  // interface: it joins the same port when the registry does (issue 18).
  ['store-drivers|src/auth/audit-sqlite.ts|better-sqlite3', 'audit writer on SQLite, to move behind a port'],
  ['store-drivers|src/auth/audit-worker.ts|better-sqlite3', 'audit worker on SQLite, to move behind a port'],
]);

/** Checks every rule; returns the violations (known exceptions excluded). */
export function check(files: readonly SourceFile[], known: ReadonlyMap<string, string> = KNOWN): Violation[] {
  const found: Violation[] = [];
  const add = (rule: string, file: string, detail: string): void => {
    if (!known.has(`${rule}|${file}|${detail}`)) found.push({ rule, file, detail });
  };
  for (const f of files) {
    if (f.path !== 'src/config.ts' && /\bprocess\.env\b/.test(stripComments(f.text))) add('env-only-in-config', f.path, 'process.env');
    for (const imp of importsOf(f)) {
      const t = imp.target;
      // Nothing imports the HTTP layer except the composition root.
      if (under(t, 'src/http') && !under(f.path, 'src/http') && !ROOT_FILES.has(f.path)) add('http-only-from-root', f.path, t);
      if (t === 'fastify' && under(f.path, ...NO_FASTIFY)) add('no-fastify-below-http', f.path, t);
      // Store drivers and adapters: only the store itself and the composition root.
      const adapter = under(t, 'src/store/sqlite', 'src/store/mongo');
      if ((STORE_DRIVERS.has(t) || adapter) && !under(f.path, 'src/store') && !ROOT_FILES.has(f.path)) {
        add('store-drivers', f.path, t);
      }
      if (under(f.path, 'src/store') && under(t, 'src/http', 'src/auth', 'src/fhir', 'src/operations', 'src/clinic')) add('store-knows-no-callers', f.path, t);
      // The leaf imports nothing of ours.
      if (under(f.path, 'src/fhir-basics') && t.startsWith('src/') && !under(t, 'src/fhir-basics')) add('fhir-basics-is-a-leaf', f.path, t);
      // Nothing calls upward (ARCHITECTURE.md, the picture): the engine never calls auth, HTTP or
      // operations; the layers it uses never call it.
      if (under(f.path, 'src/fhir') && under(t, 'src/http', 'src/auth', 'src/operations', 'src/clinic')) add('no-upward-calls', f.path, t);
      if (under(f.path, 'src/operations', 'src/clinic') && under(t, 'src/http', 'src/auth')) add('no-upward-calls', f.path, t);
      if (under(f.path, 'src/search', 'src/validation', 'src/definitions') && under(t, 'src/http', 'src/auth', 'src/fhir', 'src/operations', 'src/clinic')) {
        add('no-upward-calls', f.path, t);
      }
      if (under(f.path, 'src/auth') && under(t, 'src/operations', 'src/clinic')) add('no-upward-calls', f.path, t);
      // Background workers are a way in beside HTTP (src/jobs): the layers below never call them.
      if (under(t, 'src/jobs') && under(f.path, 'src/fhir', 'src/operations', 'src/clinic', 'src/store', 'src/search', 'src/validation', 'src/definitions')) {
        add('no-upward-calls', f.path, t);
      }
    }
  }
  return found;
}

/** Import cycles (strongly connected components of more than one file), type imports included. */
export function cycles(files: readonly SourceFile[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f.path, importsOf(f).map((i) => i.target).filter((x) => x.startsWith('src/')));
  // Tarjan's algorithm.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

function sources(dir: string): SourceFile[] {
  const out: SourceFile[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push({ path: relative(ROOT, p).replace(/\\/g, '/'), text: readFileSync(p, 'utf8') });
  }
  return out;
}

const files = sources(join(ROOT, 'src'));

t.test('every file under src/ keeps the import rules of ARCHITECTURE.md', async (t) => {
  t.ok(files.length > 50, `read ${files.length} source files`);
  const violations = check(files);
  t.same(violations, [], violations.map((v) => `${v.rule}: ${v.file} imports ${v.detail}`).join('\n') || 'no violations');
});

t.test('every known exception still exists (a fixed one is removed from the list)', async (t) => {
  const all = check(files, new Map());
  for (const key of KNOWN.keys()) {
    t.ok(all.some((v) => `${v.rule}|${v.file}|${v.detail}` === key), `${key} is still a violation`);
  }
});

t.test('the engine has no import cycles, type imports included', async (t) => {
  const found = cycles(files.filter((f) => under(f.path, 'src/fhir', 'src/fhir-basics')));
  t.same(found, [], found.map((c) => c.join(' ↔ ')).join('\n') || 'no cycles');
});

t.test('the checker fails on synthetic violations', async (t) => {
  const fake = (path: string, text: string): SourceFile => ({ path, text });
  const v = check([
    fake('src/fhir/x.ts', "import type { FastifyInstance } from 'fastify';\nimport { y } from '../http/plugin.js';"),
    fake('src/operations/y.ts', "const port = process.env.PORT;\nimport {\n  SqliteStore,\n} from '../store/sqlite/store.js';"),
    fake('src/fhir-basics/z.ts', "export { issue } from '../fhir/errors.js';"),
    fake('src/store/w.ts', "const m = await import('../auth/service.js');"),
    fake('src/search/v.ts', "import type { FhirContext } from '../fhir/context.js';"),
    // Not violations: the root may import anything; comments are not imports.
    fake('src/app.ts', "import { fhirPlugin } from './http/plugin.js';\nimport { SqliteStore } from './store/sqlite/store.js';"),
    fake('src/fhir/ok.ts', "// import { x } from '../http/plugin.js';\nimport { issue } from '../fhir-basics/outcome.js';"),
  ]);
  const rules = v.map((x) => `${x.rule} ${x.file}`).sort();
  t.same(rules, [
    'env-only-in-config src/operations/y.ts',
    'fhir-basics-is-a-leaf src/fhir-basics/z.ts',
    'http-only-from-root src/fhir/x.ts',
    'no-fastify-below-http src/fhir/x.ts',
    'no-upward-calls src/fhir/x.ts',
    'no-upward-calls src/search/v.ts',
    'store-drivers src/operations/y.ts',
    'store-knows-no-callers src/store/w.ts',
  ]);
  const c = cycles([fake('src/fhir/a.ts', "import type { B } from './b.js';"), fake('src/fhir/b.ts', "import type { A } from './a.js';"), fake('src/fhir/c.ts', "import { A } from './a.js';")]);
  t.same(c, [['src/fhir/a.ts', 'src/fhir/b.ts']], 'a type-only cycle is found; a plain import is not a cycle');
});

t.test('tests never import from bench/ (shared loaders live in scripts/ or test/helpers/)', async (t) => {
  const tests = sources(join(ROOT, 'test'));
  const offenders = tests.flatMap((f) => importsOf(f).filter((i) => i.target.startsWith('bench/')).map((i) => `${f.path} imports ${i.spec}`));
  t.same(offenders, [], offenders.join('\n') || 'none');
});
