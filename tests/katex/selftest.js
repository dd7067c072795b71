'use strict';
// The extraction rules of extract.js on made-up documents: what is math and
// what is not.  Run by `node validate.js --self-test`; prints failures and
// "RESULT P F".
const {extractLatex, extractMarkdown, extractJson, alignRows} = require('./extract.js');

// [name, extractor, document, expected formulas as [tex, display] pairs, expected error count]
const cases = [
  // ------------------------------------------------------------ Markdown
  ['md inline and display', extractMarkdown, 'a $x^2$ and\n\n$$\\frac{a}{b}$$\n', [['x^2', false], ['\\frac{a}{b}', true]], 0],
  ['md escaped dollars are text', extractMarkdown, 'costs \\$5 and \\$6, then $y$', [['y', false]], 0],
  ['md code span is not math', extractMarkdown, 'run `echo $HOME $PATH` then $z$', [['z', false]], 0],
  ['md double-backtick code span', extractMarkdown, 'see ``a ` $b$ `` and $c$', [['c', false]], 0],
  ['md unclosed backticks are literal', extractMarkdown, 'a ` b $d$', [['d', false]], 0],
  ['md fenced code is not math', extractMarkdown, '```sh\necho $x $y\n```\n$w$\n', [['w', false]], 0],
  ['md tilde fence', extractMarkdown, '~~~\n$$no$$\n~~~\n', [], 0],
  ['md math fence', extractMarkdown, '```math\n\\alpha + 1\n```\n', [['\\alpha + 1', true]], 0],
  ['md indented code is not math', extractMarkdown, 'para\n\n    $not math$\n\n$yes$\n', [['yes', false]], 0],
  ['md list continuation is not code', extractMarkdown, '- item\n\n    more $m$\n', [['m', false]], 0],
  ['md $ followed by space opens nothing', extractMarkdown, 'a $ b', [], 1],
  ['md closing $ before digit does not close', extractMarkdown, '$a$5 $b$', [['a$5 $b', false]], 0],
  ['md \\$ inside math does not close', extractMarkdown, '$a \\$ b$', [['a \\$ b', false]], 0],
  ['md unmatched $$', extractMarkdown, '$$ a + b\n', [], 1],
  ['md display over lines', extractMarkdown, '$$\n\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}\n$$\n',
    [['\n\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}\n', true]], 0],
  ['md math does not cross a blank line', extractMarkdown, '$a\n\nb$', [], 2],
  ['md table cells', extractMarkdown, '| w | $\\partial C$ |\n| --- | --- |\n| $w_1$ | $\\left\\|x\\right\\|$ |\n',
    [['\\partial C', false], ['w_1', false], ['\\left|x\\right|', false]], 0],
  ['md | in math splits a table cell', extractMarkdown, '| a | b |\n| - | - |\n| $\\left|x\\right|$ | 1 |\n',
    [], 2],
  ['md heading math', extractMarkdown, '## Loss $C$\n', [['C', false]], 0],
  ['md GitHub $`…`$', extractMarkdown, 'a $`x+1`$ b', [['x+1', false]], 0],
  ['md escaped backtick is not a code span', extractMarkdown, 'a \\` $q$ `', [['q', false]], 0],
  // ------------------------------------------------------------ LaTeX
  ['tex inline kinds', extractLatex, 'a $x$ b \\(y\\) c \\[z\\] d $$w$$',
    [['x', false], ['y', false], ['z', true], ['w', true]], 0],
  ['tex escaped dollar', extractLatex, 'costs \\$5, \\$6 and $a$', [['a', false]], 0],
  ['tex \\\\ then $', extractLatex, 'line\\\\$a$', [['a', false]], 0],
  ['tex \\\\[2pt] is no display math', extractLatex, 'a\\\\[2pt] b $c$', [['c', false]], 0],
  ['tex comment', extractLatex, '% $not$ math\n$yes$ 50\\% $x$', [['yes', false], ['x', false]], 0],
  ['tex align*', extractLatex, 'x\n\\begin{align*}\n  a &= b \\\\\n  c &= d\n\\end{align*}\n',
    [['\\begin{align*}\n  a &= b \\\\\n  c &= d\n\\end{align*}', true]], 0],
  ['tex equation* and text env', extractLatex, '\\begin{itemize}\\item $p$\\end{itemize}\\begin{equation*}q\\end{equation*}',
    [['p', false], ['\\begin{equation*}q\\end{equation*}', true]], 0],
  ['tex verbatim', extractLatex, '\\begin{verbatim}$x$ \\(\\end{verbatim} \\verb|$y$| \\verb+$+ $z$', [['z', false]], 0],
  ['tex nested math in \\text', extractLatex, '$a \\text{ if $b$ } c$', [['a \\text{ if $b$ } c', false]], 0],
  ['tex unmatched $', extractLatex, 'a $b', [], 1],
  ['tex \\ensuremath', extractLatex, '\\ensuremath{\\alpha}', [['\\alpha', false]], 0],
  ['tex %-comment in math', extractLatex, '$a % $ not the end\n b$', [['a % $ not the end\n b', false]], 0],
  ['tex \\section argument', extractLatex, '\\section{Loss $C$}', [['C', false]], 0],
  // ------------------------------------------------------------ JSON
  ['json latex fields anywhere', extractJson, '{"a": {"latex": "x"}, "b": [{"param": "w", "latex": "\\\\alpha"}], "text": "$no$"}',
    [['x', false], ['\\alpha', false]], 0],
  ['json environment is display', extractJson, '{"latex": "\\\\begin{aligned}a\\\\end{aligned}"}', [['\\begin{aligned}a\\end{aligned}', true]], 0],
  ['json not JSON', extractJson, '{"latex": ', [], 1],
];

function run() {
  let pass = 0, fail = 0;
  const bad = (name, msg) => { console.log(`FAIL katex self-test '${name}': ${msg}`); fail++; };
  for (const [name, ex, doc, want, nerr] of cases) {
    const got = ex(doc);
    const g = got.formulas.map((f) => [f.tex, f.display]);
    if (JSON.stringify(g) !== JSON.stringify(want)) { bad(name, `formulas ${JSON.stringify(g)}, expected ${JSON.stringify(want)}`); continue; }
    if (got.errors.length !== nerr) { bad(name, `${got.errors.length} errors (${got.errors.map((e) => e.msg).join('; ')}), expected ${nerr}`); continue; }
    pass++;
  }
  // rows of an align block, for the failure report
  const rows = alignRows('\\begin{align*}\n a &= b \\\\[3pt]\n \\intertext{where}\n c &= {d \\\\ e}\n\\end{align*}');
  const want = ['a &= b', '\\intertext{where}\n c &= {d \\\\ e}'];
  if (JSON.stringify(rows.map((r) => r.trim())) !== JSON.stringify(want)) bad('alignRows', JSON.stringify(rows));
  else pass++;
  console.log(`RESULT ${pass} ${fail}`);
  return fail ? 1 : 0;
}

module.exports = {run};
