// Reading definitions files one resource at a time (src/definitions/stream.ts): the same
// resources, in the same order, as parsing the whole file.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElementScanner, eachElement, eachResourceIn, eachResourceInFile } from '../../src/definitions/stream.js';
import { r4DataDir } from '../../src/definitions/load.js';

const all = (bytes: Buffer): unknown[] => {
  const out: unknown[] = [];
  eachResourceIn(bytes, (r) => out.push(r));
  return out;
};

/** Feeds `bytes` in pieces of `size` through one reused buffer, as the file reader does. */
function inPieces(bytes: Buffer, key: string | undefined, size: number): unknown[] {
  const out: unknown[] = [];
  const scanner = new ElementScanner(key, (v) => out.push(v));
  const piece = Buffer.alloc(size);
  for (let at = 0; at < bytes.length; at += size) {
    const n = bytes.copy(piece, 0, at, Math.min(bytes.length, at + size));
    scanner.feed(piece.subarray(0, n));
    piece.fill(0x7d); // overwritten, as the next read would
  }
  return out;
}

t.test('a Bundle gives its entries\' resources, whatever brackets, quotes and escapes their strings hold', async (t) => {
  const tricky = [
    { resourceType: 'Basic', id: 'a', text: { div: '<div>} ] { [ "quoted" \\ back\\slash</div>' } },
    { resourceType: 'Basic', id: 'b', code: { text: 'ends with a backslash \\' }, extension: [{ url: 'x', valueString: '[[[' }] },
    { resourceType: 'Basic', id: 'c', code: { text: 'unicode ✓ é 𝄞 and "entry": [' } },
  ];
  const bundle = { resourceType: 'Bundle', id: 'entry', meta: { tag: [{ code: 'entry' }] }, type: 'collection', entry: tricky.map((resource, i) => ({ fullUrl: `urn:${i}`, resource })), total: 3 };
  t.same(all(Buffer.from(JSON.stringify(bundle, null, 2))), tricky, 'pretty-printed');
  t.same(all(Buffer.from(JSON.stringify(bundle))), tricky, 'compact');
  t.same(all(Buffer.from(JSON.stringify({ ...bundle, entry: [] }))), [], 'no entries');
  t.same(all(Buffer.from(JSON.stringify({ ...bundle, entry: [{ fullUrl: 'urn:x' }, ...bundle.entry.slice(0, 1)] }))), tricky.slice(0, 1), 'an entry without a resource is skipped');
});

t.test('pieces cut anywhere (inside strings, escapes, multi-byte characters, the key) give the same elements', async (t) => {
  const entries = [
    { resource: { resourceType: 'Basic', id: 'a', text: { div: 'quote \\" and } ] { [ and 𝄞 é' } } },
    { resource: { resourceType: 'Basic', id: 'b', code: { text: 'backslash last \\' } } },
  ];
  const bytes = Buffer.from(JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: entries }));
  for (const size of [1, 2, 3, 7, 64, bytes.length]) t.same(inPieces(bytes, 'entry', size), entries, `pieces of ${size}`);
  const list = [{ a: '[' }, { b: [1, { c: '}' }] }];
  for (const size of [1, 5]) t.same(inPieces(Buffer.from(JSON.stringify(list)), undefined, size), list, `array, pieces of ${size}`);
});

t.test('a top-level array gives its elements; a single resource is parsed whole', async (t) => {
  const list = [{ resourceType: 'StructureDefinition', id: 'x', snapshot: { element: [{ id: 'a' }, { id: 'b' }] } }, { resourceType: 'StructureDefinition', id: 'y' }];
  t.same(all(Buffer.from(JSON.stringify(list))), list);
  const one = { resourceType: 'CompartmentDefinition', id: 'patient', resource: [{ code: 'Account' }] };
  t.same(all(Buffer.from(JSON.stringify(one))), [one]);
  t.same(eachElement(Buffer.from('[1, "two", {"three": 3}, [4]]'), undefined, () => undefined), 2, 'only object and array elements are parsed');
});

t.test('only the named key\'s array at the top level counts', async (t) => {
  const doc = { other: [{ a: 1 }], nested: { entry: [{ b: 2 }] }, entry: [{ c: 3 }, { d: [{ e: 4 }] }] };
  const seen: unknown[] = [];
  t.equal(eachElement(Buffer.from(JSON.stringify(doc)), 'entry', (v) => seen.push(v)), 2);
  t.same(seen, doc.entry);
});

t.test('a broken element is an error, not a silent skip', async (t) => {
  t.throws(() => all(Buffer.from('{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Basic",}}]}')), SyntaxError);
});

t.test('a file of the R4 package (profiles-types.json) reads the same one resource at a time as whole', async (t) => {
  const bytes = readFileSync(join(r4DataDir(), 'profiles-types.json'));
  const whole = (JSON.parse(bytes.toString('utf8')) as { entry: { resource: unknown }[] }).entry.map((e) => e.resource);
  const streamed: unknown[] = [];
  eachResourceInFile(join(r4DataDir(), 'profiles-types.json'), (r) => streamed.push(r));
  t.equal(streamed.length, whole.length);
  t.same(streamed, whole, 'read from the file in pieces');
  t.same(all(bytes), whole, 'from the bytes at once');
});
