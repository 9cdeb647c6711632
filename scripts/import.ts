// npm run import -- [--url BASE --token TOKEN] [--errors FILE] <files or folders>
// Loads NDJSON (.ndjson: one resource per line, as $export writes it) and JSON files (a Bundle's
// entries, or one resource) into Flint, validating every resource:
//   - without --url: straight through the engine into the database named by DATABASE_URL (the
//     server stopped: SQLite allows one writer);
//   - with --url: into a running server, POSTing batches of lines to [base]/$import with the
//     bearer token (--token or FLINT_TOKEN).
// Each resource is written on its own (all of it or nothing); refused ones go to the error file
// (default import-errors.ndjson: one {file, line, reason, resource} per line). A progress bar
// (resources/s, ETA from bytes read) on a terminal; a summary per type at the end.
import { createReadStream, createWriteStream, readdirSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig, ConfigError } from '../src/config.js';
import { openEngine } from '../src/app.js';
import { importItems, type ImportItem, type ImportSummary, type Refusal } from '../src/operations/import.js';

interface Options { url?: string; token?: string; errors: string; files: string[] }

function parseArgs(argv: string[]): Options {
  const o: Options = { errors: 'import-errors.ndjson', files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--url') o.url = (argv[++i] ?? '').replace(/\/+$/, '');
    else if (a === '--token') o.token = argv[++i];
    else if (a === '--errors') o.errors = argv[++i] ?? o.errors;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.files.push(a);
  }
  if (o.files.length === 0) throw new Error('usage: npm run import -- [--url BASE --token TOKEN] [--errors FILE] <files or folders>');
  o.token ??= process.env.FLINT_TOKEN;
  return o;
}

/** Files to load: the given ones, and the .ndjson/.json files of given folders (sorted). */
function expand(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths.map((x) => resolve(x))) {
    if (statSync(p).isDirectory()) out.push(...readdirSync(p).filter((f) => /\.(ndjson|json)$/.test(f)).sort().map((f) => join(p, f)));
    else out.push(p);
  }
  return out;
}

class Progress {
  private done = 0;
  private bytes = 0;
  private readonly start = Date.now();
  private last = 0;
  constructor(private readonly totalBytes: number, private readonly tty: boolean) {}
  advance(resources: number, bytes: number): void {
    this.done += resources;
    this.bytes = Math.max(this.bytes, bytes);
    const now = Date.now();
    if (!this.tty || now - this.last < 200) return;
    this.last = now;
    const s = (now - this.start) / 1000;
    const rate = this.done / Math.max(s, 0.001);
    const frac = this.totalBytes ? Math.min(1, this.bytes / this.totalBytes) : 0;
    const eta = frac > 0 ? Math.round(s / frac - s) : 0;
    const bar = '='.repeat(Math.round(frac * 30)).padEnd(30, ' ');
    process.stderr.write(`\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${this.done} resources ${Math.round(rate)}/s ETA ${eta}s   `);
  }
  end(): { resources: number; seconds: number } {
    if (this.tty) process.stderr.write('\n');
    return { resources: this.done, seconds: (Date.now() - this.start) / 1000 };
  }
}

/** Items of one file with the byte offset reached (for the progress bar). */
async function* itemsOf(file: string, onBytes: (n: number) => void): AsyncIterable<ImportItem> {
  if (file.endsWith('.ndjson')) {
    let line = 0;
    let bytes = 0;
    for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      line++;
      bytes += Buffer.byteLength(text) + 1;
      onBytes(bytes);
      if (text.trim()) yield { line, resource: text };
    }
    return;
  }
  const json = JSON.parse(readFileSync(file, 'utf8')) as { resourceType?: string; entry?: { resource?: unknown }[] };
  const list = json.resourceType === 'Bundle' ? (json.entry ?? []).map((e) => e.resource) : [json];
  let n = 0;
  for (const r of list) yield { line: ++n, resource: r };
  onBytes(statSync(file).size);
}

/** Sends batches of items to a running server's $import. */
async function viaHttp(o: Options, items: AsyncIterable<ImportItem>, onRefused: (r: Refusal, item: ImportItem) => void, onProgress: (n: number) => void): Promise<ImportSummary> {
  const summary: ImportSummary = { loaded: {}, refused: 0, refusedByType: {} };
  let batch: ImportItem[] = [];
  let sent = 0;
  const send = async (): Promise<void> => {
    const body = batch.map((i) => (typeof i.resource === 'string' ? i.resource : JSON.stringify(i.resource))).join('\n');
    const res = await fetch(`${o.url}/$import`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/fhir+ndjson', accept: 'application/fhir+json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    });
    const outcome = (await res.json().catch(() => ({}))) as { issue?: { severity: string; diagnostics?: string }[] };
    if (res.status !== 200 && res.status !== 422) throw new Error(`$import answered ${res.status}: ${outcome.issue?.[0]?.diagnostics ?? ''}`);
    const refusedLines = new Set<number>();
    for (const i of outcome.issue ?? []) {
      const m = /^line (\d+)(?: \(([A-Za-z]+)(?:\/[^)]*)?\))?: (.*)$/s.exec(i.diagnostics ?? '');
      if (i.severity !== 'error' || !m) continue;
      const item = batch[Number(m[1]) - 1];
      if (!item) continue;
      refusedLines.add(Number(m[1]));
      const type = m[2] ?? '(unreadable)';
      summary.refused++;
      summary.refusedByType[type] = (summary.refusedByType[type] ?? 0) + 1;
      onRefused({ line: item.line, type, reason: m[3] ?? '' }, item);
    }
    for (const [i, item] of batch.entries()) {
      if (refusedLines.has(i + 1)) continue;
      const r = typeof item.resource === 'string' ? JSON.parse(item.resource) as { resourceType?: string } : item.resource as { resourceType?: string };
      const t = String(r.resourceType);
      summary.loaded[t] = (summary.loaded[t] ?? 0) + 1;
    }
    sent += batch.length;
    onProgress(sent);
    batch = [];
  };
  // Batches of 100: the server reports up to 100 refusals per request, so every one is seen.
  for await (const item of items) {
    batch.push(item);
    if (batch.length >= 100) await send();
  }
  if (batch.length) await send();
  return summary;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const files = expand(o.files);
  const total = files.reduce((a, f) => a + statSync(f).size, 0);
  const progress = new Progress(total, process.stderr.isTTY === true);
  let errors: WriteStream | undefined;
  let base = 0;
  let current = '';
  const onRefused = (r: Refusal, item: ImportItem): void => {
    errors ??= createWriteStream(o.errors);
    const resource = typeof item.resource === 'string' ? (() => { try { return JSON.parse(item.resource) as unknown; } catch { return item.resource; } })() : item.resource;
    errors.write(`${JSON.stringify({ file: current, line: r.line, reason: r.reason, resource })}\n`);
  };
  const totals: ImportSummary = { loaded: {}, refused: 0, refusedByType: {} };
  const add = (s: ImportSummary): void => {
    for (const [t, n] of Object.entries(s.loaded)) totals.loaded[t] = (totals.loaded[t] ?? 0) + n;
    for (const [t, n] of Object.entries(s.refusedByType)) totals.refusedByType[t] = (totals.refusedByType[t] ?? 0) + n;
    totals.refused += s.refused;
  };
  let bytesSeen = 0;
  const ctx = o.url ? undefined : await openEngine(loadConfig(), { hooks: [] });
  try {
    for (const file of files) {
      current = file;
      let done = 0;
      const items = itemsOf(file, (b) => { bytesSeen = base + b; });
      // Both ways report the resources done in this file so far.
      const onProgress = (n: number): void => {
        progress.advance(n - done, bytesSeen);
        done = n;
      };
      add(ctx ? await importItems(ctx, items, { onRefused, onProgress }) : await viaHttp(o, items, onRefused, onProgress));
      base += statSync(file).size;
    }
  } finally {
    await ctx?.store.close();
    await new Promise<void>((r) => (errors ? errors.end(() => r()) : r()));
  }
  const { resources, seconds } = progress.end();
  const loaded = Object.values(totals.loaded).reduce((a, b) => a + b, 0);
  const types = [...new Set([...Object.keys(totals.loaded), ...Object.keys(totals.refusedByType)])].sort();
  process.stdout.write(`${'type'.padEnd(28)} ${'loaded'.padStart(9)} ${'refused'.padStart(9)}\n`);
  for (const t of types) process.stdout.write(`${t.padEnd(28)} ${String(totals.loaded[t] ?? 0).padStart(9)} ${String(totals.refusedByType[t] ?? 0).padStart(9)}\n`);
  process.stdout.write(`loaded ${loaded}, refused ${totals.refused} of ${resources} in ${seconds.toFixed(1)}s (${Math.round(resources / Math.max(seconds, 0.001))}/s)\n`);
  if (totals.refused) process.stdout.write(`refused resources and reasons: ${resolve(o.errors)}\n`);
  process.exitCode = totals.refused ? 2 : 0;
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`import: invalid configuration: ${err.message}\n`);
  else process.stderr.write(`import: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
