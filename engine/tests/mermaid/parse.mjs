// Parses Mermaid files with the real Mermaid parser; exits 1 if any fails.
// Usage: node parse.mjs FILE...   (run `npm ci` in this folder first)
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

// Mermaid expects a browser; a JSDOM window is enough for parsing.
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    await mermaid.parse(readFileSync(file, 'utf8'));
    console.log(`ok ${file}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${file}: ${String(error.message || error).split('\n').slice(0, 3).join(' | ')}`);
  }
}
process.exit(failed ? 1 : 0);
