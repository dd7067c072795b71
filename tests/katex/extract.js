'use strict';
// Math extraction for tests/katex/validate.js: finds every formula in a
// Markdown document, a LaTeX document (or fragment, or bare align* block) and
// a JSON document ("latex" fields), with where it came from.  No KaTeX here:
// this module has no dependencies, so that its self-test runs anywhere.
//
// Every extractor returns {formulas: [{tex, display, where}], errors: [{where, msg}]}
// where `where` is "line L col C" (1-based, C counts code points) or a JSON path.

// ---------------------------------------------------------------- positions

// Maps a string offset to "line L col C".
function locator(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return (off) => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= off) lo = mid; else hi = mid - 1;
    }
    const col = Array.from(text.slice(starts[lo], off)).length + 1;
    return `line ${lo + 1} col ${col}`;
  };
}

// ---------------------------------------------------------------- LaTeX

// Environments whose whole text (\begin … \end included) is one display
// formula; KaTeX supports these (and says so when it does not).
const MATH_ENVS = new Set([
  'equation', 'equation*', 'align', 'align*', 'gather', 'gather*', 'alignat', 'alignat*',
  'multline', 'multline*', 'flalign', 'flalign*', 'eqnarray', 'eqnarray*',
]);
// Environments whose content alone is the formula.
const CONTENT_ENVS = {displaymath: true, math: false}; // name -> display
// Environments whose content is not TeX at all.
const VERBATIM_ENVS = new Set(['verbatim', 'verbatim*', 'Verbatim', 'lstlisting', 'minted', 'comment', 'filecontents', 'filecontents*']);

const isLetter = (ch) => /^[A-Za-z@]$/.test(ch);

// Reads a control sequence at s[i] === '\\': returns {name, end}; name is the
// letters of a control word or the one character of a control symbol.
function controlSeq(s, i) {
  let j = i + 1;
  if (j < s.length && isLetter(s[j])) {
    while (j < s.length && isLetter(s[j])) j++;
    return {name: s.slice(i + 1, j), end: j};
  }
  return {name: j < s.length ? s[j] : '', end: Math.min(j + 1, s.length)};
}

// Reads "{arg}" (after optional spaces) at s[i]: {arg, end} or null.
function braceArg(s, i) {
  let j = i;
  while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
  if (s[j] !== '{') return null;
  let depth = 0;
  for (let k = j; k < s.length; k++) {
    if (s[k] === '\\') { k++; continue; }
    if (s[k] === '{') depth++;
    else if (s[k] === '}' && --depth === 0) return {arg: s.slice(j + 1, k), end: k + 1};
  }
  return null;
}

// Scans math from s[i] to its closer.  closer: '$', '$$', '\\)', '\\]' or
// '\\end{NAME}'.  Comments (%…) are skipped; a '$' closes only at brace depth 0
// (a '$' inside braces is math nested in \text{…}).  Returns the offset of the
// closer, or -1.
function scanMath(s, i, closer) {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const ch = s[j];
    if (ch === '\\') {
      if (closer[0] === '\\' && s.startsWith(closer, j)) {
        if (!closer.startsWith('\\end')) return j;
        // \end{NAME}, spaces allowed before the brace
        const a = braceArg(s, j + 4);
        if (a && '\\end{' + a.arg + '}' === closer) return j;
      }
      j = controlSeq(s, j).end - 1;
      continue;
    }
    if (ch === '%') { while (j < s.length && s[j] !== '\n') j++; continue; }
    if (ch === '{') depth++;
    else if (ch === '}') depth--;
    else if (ch === '$' && depth <= 0) {
      if (closer === '$') return j;
      if (closer === '$$' && s[j + 1] === '$') return j;
      if (closer === '$$') return -1; // a lone $ inside $$…$$: broken
    }
  }
  return -1;
}

// A formula in a LaTeX source: math spans and math environments; text outside
// math (and comments, \verb, verbatim environments) is not looked at.
function extractLatex(text) {
  const at = locator(text);
  const formulas = [], errors = [];
  const s = text;
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '%') { while (i < s.length && s[i] !== '\n') i++; continue; }
    if (ch === '\\') {
      const cs = controlSeq(s, i);
      if (cs.name === 'verb' || cs.name === 'lstinline') {
        let j = cs.end;
        if (s[j] === '*') j++;
        const delim = s[j];
        const close = delim === '{' ? '}' : delim;
        const k = s.indexOf(close, j + 1);
        if (!delim || k < 0) { errors.push({where: at(i), msg: `unterminated \\${cs.name}`}); return {formulas, errors}; }
        i = k + 1;
        continue;
      }
      if (cs.name === 'begin') {
        const a = braceArg(s, cs.end);
        if (!a) { i = cs.end; continue; }
        const env = a.arg.trim();
        const endTag = '\\end{' + env + '}';
        if (VERBATIM_ENVS.has(env)) {
          const k = s.indexOf(endTag, a.end);
          if (k < 0) { errors.push({where: at(i), msg: `unterminated ${env} environment`}); return {formulas, errors}; }
          i = k + endTag.length;
          continue;
        }
        if (MATH_ENVS.has(env) || env in CONTENT_ENVS) {
          const k = scanMath(s, a.end, endTag);
          if (k < 0) { errors.push({where: at(i), msg: `\\begin{${env}} without \\end{${env}}`}); return {formulas, errors}; }
          const endOff = k + endTag.length;
          if (MATH_ENVS.has(env))
            formulas.push({tex: s.slice(i, endOff), display: true, env, where: at(i) + ` (${env})`});
          else
            formulas.push({tex: s.slice(a.end, k), display: CONTENT_ENVS[env], where: at(i) + ` (${env})`});
          i = endOff;
          continue;
        }
        i = a.end; // a text environment: go on inside it
        continue;
      }
      if (cs.name === 'end') { i = cs.end; continue; }
      if (cs.name === '(' || cs.name === '[') {
        const closer = cs.name === '(' ? '\\)' : '\\]';
        const k = scanMath(s, cs.end, closer);
        if (k < 0) { errors.push({where: at(i), msg: `\\${cs.name} without ${closer}`}); return {formulas, errors}; }
        formulas.push({tex: s.slice(cs.end, k), display: cs.name === '[', where: at(i)});
        i = k + 2;
        continue;
      }
      if (cs.name === ')' || cs.name === ']') {
        errors.push({where: at(i), msg: `\\${cs.name} outside math`});
        i = cs.end;
        continue;
      }
      if (cs.name === 'ensuremath') {
        const a = braceArg(s, cs.end);
        if (a) { formulas.push({tex: a.arg, display: false, where: at(i) + ' (\\ensuremath)'}); i = a.end; continue; }
      }
      i = cs.end; // \$, \%, \\, \{ and every other control sequence
      continue;
    }
    if (ch === '$') {
      const display = s[i + 1] === '$';
      const open = display ? 2 : 1;
      const k = scanMath(s, i + open, display ? '$$' : '$');
      if (k < 0) { errors.push({where: at(i), msg: `unmatched ${display ? '$$' : '$'} (a literal dollar is written \\$)`}); return {formulas, errors}; }
      formulas.push({tex: s.slice(i + open, k), display, where: at(i)});
      i = k + open;
      continue;
    }
    i++;
  }
  return {formulas, errors};
}

// Splits the body of an align-like environment into its rows at the top-level
// \\ (outside braces): used to say which row of a failing block is at fault.
function alignRows(envTex) {
  const m = /^\\begin\{([^}]*)\}/.exec(envTex);
  if (!m) return null;
  const endTag = '\\end{' + m[1] + '}';
  if (!envTex.endsWith(endTag)) return null;
  let body = envTex.slice(m[0].length, envTex.length - endTag.length);
  if (/^alignat\*?$/.test(m[1])) { const a = braceArg(body, 0); if (a) body = body.slice(a.end); }
  const rows = [];
  let depth = 0, start = 0;
  for (let j = 0; j < body.length; j++) {
    const ch = body[j];
    if (ch === '%') { while (j < body.length && body[j] !== '\n') j++; continue; }
    if (ch === '{') depth++;
    else if (ch === '}') depth--;
    else if (ch === '\\') {
      if (body[j + 1] === '\\' && depth === 0) {
        rows.push(body.slice(start, j));
        j++;
        // an optional [length] after \\ belongs to the break
        const r = /^\s*\[[^\]]*\]/.exec(body.slice(j + 1));
        if (r) j += r[0].length;
        start = j + 1;
        continue;
      }
      j = controlSeq(body, j).end - 1;
    }
  }
  rows.push(body.slice(start));
  return rows.filter((r) => r.trim() !== '');
}

// ---------------------------------------------------------------- Markdown

const ASCII_PUNCT = /[!-\/:-@\[-`{-~]/;

// Inline scan of one paragraph (or one table cell): code spans, backslash
// escapes, $$…$$ and $…$ (pandoc's tex_math_dollars rules: the opening $ is
// followed by a non-space, the closing $ is preceded by a non-space and not
// followed by a digit) and GitHub's $`…`$.  base: offset of s in the document.
function scanInline(s, base, at, formulas, errors) {
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '\\') { i += ASCII_PUNCT.test(s[i + 1] || '') ? 2 : 1; continue; }
    if (ch === '`') {
      let k = i; while (s[k] === '`') k++;
      const run = k - i;
      // the closing run has exactly `run` backticks
      let j = k, found = -1;
      while (j < s.length) {
        if (s[j] === '`') {
          let e = j; while (s[e] === '`') e++;
          if (e - j === run) { found = e; break; }
          j = e;
        } else j++;
      }
      i = found >= 0 ? found : k;
      continue;
    }
    if (ch === '$') {
      if (s[i + 1] === '`') { // GitHub: $`…`$
        const k = s.indexOf('`$', i + 2);
        if (k >= 0) { formulas.push({tex: s.slice(i + 2, k), display: false, where: at(base + i)}); i = k + 2; continue; }
      }
      if (s[i + 1] === '$') {
        let k = -1;
        for (let j = i + 2; j < s.length; j++) {
          if (s[j] === '\\') { j++; continue; }
          if (s[j] === '$' && s[j + 1] === '$') { k = j; break; }
        }
        if (k < 0 || s.slice(i + 2, k).trim() === '') {
          errors.push({where: at(base + i), msg: 'unmatched $$ (a literal dollar is written \\$)'});
          i += 2;
          continue;
        }
        formulas.push({tex: s.slice(i + 2, k), display: true, where: at(base + i)});
        i = k + 2;
        continue;
      }
      let k = -1;
      if (s[i + 1] !== undefined && !/\s/.test(s[i + 1])) {
        for (let j = i + 1; j < s.length; j++) {
          if (s[j] === '\\') { j++; continue; }
          if (s[j] === '$' && !/\s/.test(s[j - 1]) && !/[0-9]/.test(s[j + 1] || '')) { k = j; break; }
        }
      }
      if (k < 0) {
        errors.push({where: at(base + i), msg: 'a $ that opens no math, or math that is not closed (a literal dollar is written \\$)'});
        i++;
        continue;
      }
      formulas.push({tex: s.slice(i + 1, k), display: false, where: at(base + i)});
      i = k + 1;
      continue;
    }
    i++;
  }
}

// GFM: a table row splits into cells at every | not escaped as \| (code spans
// and math do not protect a |); \| then stands for |.  Returns [{text, off}].
function tableCells(line, off) {
  const cells = [];
  let start = 0;
  const body = line;
  for (let j = 0; j <= body.length; j++) {
    if (j === body.length || (body[j] === '|' && body[j - 1] !== '\\')) {
      cells.push({raw: body.slice(start, j), off: off + start});
      start = j + 1;
    }
  }
  // leading and trailing pipes make empty outer cells
  if (cells.length && cells[0].raw.trim() === '') cells.shift();
  if (cells.length && cells[cells.length - 1].raw.trim() === '') cells.pop();
  return cells.map((c) => ({text: c.raw.replace(/\\\|/g, '|'), off: c.off}));
}

const DELIM_ROW = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const LIST_ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])(\s|$)/;

function extractMarkdown(text) {
  const at = locator(text);
  const formulas = [], errors = [];
  const lines = text.split('\n');
  const offs = [];
  { let o = 0; for (const l of lines) { offs.push(o); o += l.length + 1; } }
  let para = []; // indices of the lines of the current paragraph
  let inList = false, prevBlank = true;
  const flush = () => {
    if (!para.length) return;
    const isTable = para.length >= 2 && lines[para[0]].includes('|') && DELIM_ROW.test(lines[para[1]]);
    if (isTable) {
      for (const li of para) {
        if (li === para[1]) continue;
        if (!lines[li].includes('|')) { // a lazy continuation ends the table: plain text
          scanInline(lines[li], offs[li], at, formulas, errors);
          continue;
        }
        for (const c of tableCells(lines[li], offs[li])) scanInline(c.text, c.off, at, formulas, errors);
      }
    } else {
      const start = offs[para[0]];
      const end = offs[para[para.length - 1]] + lines[para[para.length - 1]].length;
      scanInline(text.slice(start, end), start, at, formulas, errors);
    }
    para = [];
  };
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li];
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const mark = fence[1], info = fence[2].toLowerCase();
      let k = li + 1;
      const closeRe = new RegExp('^ {0,3}' + (mark[0] === '`' ? '`' : '~') + '{' + mark.length + ',}\\s*$');
      while (k < lines.length && !closeRe.test(lines[k])) k++;
      if (info === 'math') {
        const body = lines.slice(li + 1, k).join('\n');
        formulas.push({tex: body, display: true, where: at(offs[li]) + ' (```math)'});
      }
      li = k; // an unclosed fence runs to the end of the document
      prevBlank = false;
      continue;
    }
    if (line.trim() === '') { flush(); prevBlank = true; continue; }
    const indent = /^( {4,}|\t)/.test(line);
    if (indent && prevBlank && !inList && !para.length) {
      // an indented code block: up to the next non-blank line indented less
      let k = li;
      while (k + 1 < lines.length && (lines[k + 1].trim() === '' || /^( {4,}|\t)/.test(lines[k + 1]))) k++;
      li = k;
      prevBlank = lines[k].trim() === '';
      continue;
    }
    if (/^\s{0,3}#{1,6}(\s|$)/.test(line)) { flush(); scanInline(line, offs[li], at, formulas, errors); inList = false; prevBlank = false; continue; }
    if (LIST_ITEM.test(line)) { flush(); inList = true; }
    else if (!indent && prevBlank) inList = false;
    para.push(li);
    prevBlank = false;
  }
  flush();
  return {formulas, errors};
}

// ---------------------------------------------------------------- JSON

// Every string field named "latex", anywhere; a field holding an environment
// (\begin{…}) is display math.  The path says where: $.derivatives[3].latex
// (param "w[2]") when the object names its param.
function extractJson(text) {
  const formulas = [], errors = [];
  let doc;
  try { doc = JSON.parse(text); } catch (e) { errors.push({where: '(document)', msg: 'not JSON: ' + e.message}); return {formulas, errors}; }
  const walk = (v, path) => {
    if (Array.isArray(v)) { v.forEach((x, k) => walk(x, `${path}[${k}]`)); return; }
    if (v === null || typeof v !== 'object') return;
    for (const [key, val] of Object.entries(v)) {
      const p = `${path}.${key}`;
      if (key === 'latex' && typeof val === 'string') {
        const who = typeof v.param === 'string' ? ` (param ${v.param})` : typeof v.name === 'string' ? ` (name ${v.name})` : '';
        formulas.push({tex: val, display: /^\s*\\begin\{/.test(val), where: p + who});
      } else if (key === 'latex' && val !== null && typeof val !== 'object') {
        errors.push({where: p, msg: `a "latex" field that is not a string: ${JSON.stringify(val)}`});
      } else walk(val, p);
    }
  };
  walk(doc, '$');
  return {formulas, errors};
}

module.exports = {extractLatex, extractMarkdown, extractJson, alignRows};
