#!/usr/bin/env node
'use strict';
// Renders every formula of gradproof's outputs with KaTeX, strictly: every
// formula must parse and render with {throwOnError: true, strict: "error"}.
//
// usage:
//   node validate.js --katex DIR MANIFEST
//       MANIFEST: one document a line, "KIND<TAB>SOURCE<TAB>LABEL<TAB>FILE";
//       KIND is json, latex or markdown (how to find the formulas in FILE),
//       SOURCE the name the formula counts are kept under (derive.json, …),
//       LABEL what failures are reported against (cases/x.case derive --format json).
//   node validate.js --katex DIR --formulas FILE|-
//       FILE: a JSON array of {"where": "...", "tex": "...", "display": bool}.
//   node validate.js --self-test
//       the extraction rules on made-up documents (no KaTeX needed).
//
// DIR is the --prefix of `npm install katex` (DIR/node_modules/katex).
// Prints one line per failure, the counts per source and a last line
// "RESULT P F" (formulas rendered, failures); exits 1 when anything failed,
// 2 on bad usage.
const fs = require('fs');
const path = require('path');
const {extractLatex, extractMarkdown, extractJson, alignRows} = require('./extract.js');

const MAX_SHOWN = 400; // characters of a failing formula that are printed

function clip(s) {
  const one = s.replace(/\s*\n\s*/g, ' ');
  return one.length > MAX_SHOWN ? one.slice(0, MAX_SHOWN) + ` … (${one.length} chars)` : one;
}

function loadKatex(dir) {
  const p = path.resolve(dir, 'node_modules', 'katex');
  try { return require(p); } catch (e) {
    process.stderr.write(`validate.js: cannot load KaTeX from ${p}: ${e.message}\n`);
    process.exit(2);
  }
}

// Renders one formula; returns null or the error message.
function render(katex, tex, display) {
  if (tex.trim() === '') return 'empty formula';
  try {
    const html = katex.renderToString(tex, {throwOnError: true, strict: 'error', displayMode: display, trust: false});
    if (html.includes('katex-error')) return 'KaTeX rendered an error box';
    return null;
  } catch (e) {
    // KaTeX underlines the culprit with U+0332 (combining low line): drop it
    return (e && e.message ? e.message : String(e)).replace(/\u0332/g, '').replace(/\s*\n\s*/g, ' ');
  }
}

// A failing align-like block: which of its rows fail on their own (each in
// an aligned environment); the whole block's message if none does.
function rowFailures(katex, f) {
  if (!f.env || !/^(align|alignat|flalign|gather|eqnarray)\*?$/.test(f.env)) return [];
  const rows = alignRows(f.tex);
  if (!rows || rows.length < 2) return [];
  const out = [];
  rows.forEach((row, k) => {
    const wrapped = f.env.startsWith('gather') ? `\\begin{gathered}${row}\\end{gathered}` : `\\begin{aligned}${row}\\end{aligned}`;
    const err = render(katex, wrapped, true);
    if (err) out.push({row: k + 1, tex: row.trim(), err});
  });
  return out;
}

function main(argv) {
  if (argv[0] === '--self-test') return require('./selftest.js').run();
  if (argv[0] !== '--katex' || argv.length !== (argv[2] === '--formulas' ? 4 : 3)) {
    process.stderr.write('usage: validate.js --katex DIR MANIFEST | --katex DIR --formulas FILE | --self-test\n');
    return 2;
  }
  const katex = loadKatex(argv[1]);
  // documents: [{source, label, formulas, errors}]
  const docs = [];
  if (argv[2] === '--formulas') {
    const text = fs.readFileSync(argv[3] === '-' ? 0 : argv[3], 'utf8');
    const arr = JSON.parse(text);
    docs.push({source: 'formulas', label: argv[3] === '-' ? 'stdin' : argv[3],
      formulas: arr.map((f) => ({tex: String(f.tex), display: !!f.display, where: String(f.where || '')})), errors: []});
  } else {
    for (const line of fs.readFileSync(argv[2], 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const [kind, source, label, file] = line.split('\t');
      const text = fs.readFileSync(file, 'utf8');
      const ex = kind === 'json' ? extractJson : kind === 'latex' ? extractLatex : kind === 'markdown' ? extractMarkdown : null;
      if (!ex) { process.stderr.write(`validate.js: unknown kind '${kind}' in the manifest\n`); return 2; }
      docs.push({source, label, ...ex(text)});
    }
  }
  const counts = new Map(); // source -> {docs, ok, bad}
  let pass = 0, fail = 0;
  for (const d of docs) {
    if (!counts.has(d.source)) counts.set(d.source, {docs: 0, ok: 0, bad: 0});
    const c = counts.get(d.source);
    c.docs++;
    for (const e of d.errors) {
      console.log(`FAIL katex ${d.label}: ${e.where}: ${e.msg}`);
      c.bad++; fail++;
    }
    for (const f of d.formulas) {
      const err = render(katex, f.tex, f.display);
      if (!err) { c.ok++; pass++; continue; }
      c.bad++; fail++;
      console.log(`FAIL katex ${d.label}: ${f.where}${f.display ? ' (display)' : ''}: ${err}`);
      const rows = rowFailures(katex, f);
      if (rows.length) for (const r of rows) console.log(`    row ${r.row} fails alone too (${r.err.replace(/ at position \d+:.*$/, '')}): ${clip(r.tex)}`);
      else console.log(`    tex: ${clip(f.tex)}`);
    }
  }
  for (const [source, c] of counts)
    console.log(`katex: ${source}: ${c.ok + c.bad} formulas in ${c.docs} documents, ${c.ok} render, ${c.bad} fail`);
  console.log(`RESULT ${pass} ${fail}`); // read by katex.sh
  return fail ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
