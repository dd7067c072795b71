#!/usr/bin/env python3
"""Column alignment of gradproof's monospace text outputs, in display width.

usage: align.py [--verbose] [--label LABEL] FILE [[--label LABEL] FILE ...]
       align.py --self-test

Finds two kinds of aligned blocks in each file and checks that their columns
line up on a terminal, counting display width: East Asian wide and full-width
characters are 2 columns, combining marks (and other zero-width characters)
0, everything else 1 (subscripts such as ₁, the prime ′, ŷ written as one
code point: 1; y followed by U+0302: 1).

Tables: lines whose cells are separated by runs of 2 or more spaces (not the
two spaces after a full stop that end a sentence), consecutive within a
paragraph.  Lines indented deeper than the table that are not rows themselves
(the details under a row) are passed over; a line of one cell between two
rows is a row whose cells ran together.  A block whose rows all have the same
gaps is a table only if its cells start at the same columns: a list whose
lines all use the same separator ("expr    (drift …)") is not a table.  (So a
table of equal widths padded wrongly in the same way in every row, which
cannot be told from such a list, goes unseen.)
When every row has the same number of cells, each column must be left aligned
(its cells start at one column) or right aligned (they end at one column); the
majority says which, and the other cells are misaligned.  Otherwise (free text
with double spaces of its own after the last column, cells run together) the
columns are the display positions where at least half of the rows (and at
least 2) start a cell, or end one; a cell is misaligned when it starts at no
column and ends at none (short of the free text after the last column), or
when it runs over a column start.

'=' blocks: consecutive lines at one indentation of the form "NAME<spaces>= …"
where some NAME is padded (2 or more spaces before the '='): the '=' must be
at one display column in all of them (derive's "∂C/∂w₁₁ = …" lists).

Prints one FAIL line per misaligned block with the lines concerned, then
"RESULT files_ok files_failed tables eq_blocks"; exits 1 when a file fails.
"""
import math
import re
import sys
import unicodedata


def char_width(ch):
    if ch == '\t':
        return None  # handled by the caller
    if unicodedata.combining(ch) or unicodedata.category(ch) in ('Mn', 'Me', 'Cf'):
        return 0
    if unicodedata.east_asian_width(ch) in ('W', 'F'):
        return 2
    return 1


def display_width(s):
    return sum(char_width(c) or 0 for c in s)


SENTENCE_END = '.!?'


def cells(line):
    """The cells of a line: [(start, end, text)] in display columns, split at
    runs of 2+ spaces (not at the two spaces after a sentence)."""
    out = []
    col = 0
    cur, cur_start = [], None
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == ' ':
            j = i
            while j < n and line[j] == ' ':
                j += 1
            run = j - i
            sentence_gap = (run == 2 and cur and cur[-1] in SENTENCE_END
                            and j < n and line[j].isupper())
            if cur and (run >= 2 and not sentence_gap) or j == n:
                if cur:
                    text = ''.join(cur)
                    out.append((cur_start, cur_start + display_width(text), text))
                    cur, cur_start = [], None
            elif cur:
                cur.extend(' ' * run)
            col += run
            i = j
            continue
        if cur_start is None:
            cur_start = col
        cur.append(ch)
        col += char_width(ch) or 0
        i += 1
    if cur:
        text = ''.join(cur)
        out.append((cur_start, cur_start + display_width(text), text))
    return out


def indent_of(line):
    return len(line) - len(line.lstrip(' '))


EQ = re.compile(r'^( *)(\S+)( +)= ')


def gaps(row):
    return tuple(row[k + 1][0] - row[k][1] for k in range(len(row) - 1))


def most_common(xs):
    best, bn = None, 0
    for x in xs:
        k = xs.count(x)
        if k > bn:
            best, bn = x, k
    return best, bn


def check_table(rows):
    """rows: [(lineno, line, cells)].  Returns a list of problem strings."""
    n = len(rows)
    widths = set(gaps(c) for _, _, c in rows)
    per_col = {}
    for g in widths:
        for k, w in enumerate(g):
            per_col.setdefault(k, set()).add(w)
    if all(len(v) == 1 for v in per_col.values()) and len(set(len(g) for g in widths)) == 1:
        # the same gaps in every row: cells of equal widths, lined up, or a
        # list with a fixed separator, not a table
        if len(set(tuple(x[0] for x in c) for _, _, c in rows)) == 1:
            return []
        return None
    problems = []
    lens = set(len(c) for _, _, c in rows)
    if len(lens) == 1:
        # every row has the same cells: column by column, left aligned (the
        # starts agree) or right aligned (the ends agree), by majority
        for k in range(1, lens.pop()):
            col = [(ln, c[k]) for ln, _, c in rows]
            s_mode, s_n = most_common([cell[0] for _, cell in col])
            e_mode, e_n = most_common([cell[1] for _, cell in col])
            if s_n == n or e_n == n:
                continue
            if s_n >= e_n:
                bad = [f'line {ln}: "{t}" starts at column {s}' for ln, (s, e, t) in col if s != s_mode]
                problems.append(f'column {k + 1} (left aligned at {s_mode} in {s_n} of {n} rows): ' + '; '.join(bad))
            else:
                bad = [f'line {ln}: "{t}" ends at column {e}' for ln, (s, e, t) in col if e != e_mode]
                problems.append(f'column {k + 1} (right aligned at {e_mode} in {e_n} of {n} rows): ' + '; '.join(bad))
        return problems
    # rows of different lengths (free text with double spaces in the last
    # column, cells run together): the columns are where at least half of the
    # rows start a cell (or end one)
    thr = max(2, math.ceil(n / 2))
    count_s, count_e = {}, {}
    for _, _, c in rows:
        for s, e, _ in c[1:]:
            count_s[s] = count_s.get(s, 0) + 1
        for s, e, _ in c:
            count_e[e] = count_e.get(e, 0) + 1
    starts = sorted(p for p, k in count_s.items() if k >= thr)
    ends = set(p for p, k in count_e.items() if k >= thr)
    last = starts[-1] if starts else None
    for ln, _, c in rows:
        has_last = last is not None and any(s == last for s, _, _ in c)
        for k, (s, e, t) in enumerate(c):
            if k > 0 and s not in starts and e not in ends and not (has_last and s > last):
                near = min(starts, key=lambda p: abs(p - s)) if starts else None
                problems.append(f'line {ln}: "{t}" starts at column {s}'
                                + (f', the column starts at {near}' if near is not None else ''))
                continue
            for p in starts:
                if s < p < e and e not in ends and not (has_last and s >= last):
                    problems.append(f'line {ln}: "{t}" (columns {s}-{e}) runs over the column at {p}')
                    break
    return problems


def check_text(text, found=None):
    """Returns (tables, eq_blocks, problems); problems: [(lines, message)].
    found, a list, gets (kind, first line, last line) of every block judged."""
    found = [] if found is None else found
    lines = text.split('\n')
    problems = []
    ntables = neq = 0
    # paragraphs: runs of non-blank lines
    paras, cur = [], []
    for ln, line in enumerate(lines, 1):
        if line.strip() == '':
            if cur:
                paras.append(cur)
            cur = []
        else:
            cur.append((ln, line))
    if cur:
        paras.append(cur)
    for para in paras:
        for ln, line in para:
            if '\t' in line:
                problems.append(([(ln, line)], f'line {ln}: a tab (its width depends on the terminal)'))
        # '=' blocks
        in_eq = set()
        k = 0
        while k < len(para):
            m = EQ.match(para[k][1])
            if not m:
                k += 1
                continue
            ind = len(m.group(1))
            j = k
            run = []
            while j < len(para):
                mm = EQ.match(para[j][1])
                if not mm or len(mm.group(1)) != ind:
                    break
                run.append((para[j][0], para[j][1], display_width(mm.group(1) + mm.group(2) + mm.group(3))))
                j += 1
            if len(run) >= 2 and any(len(EQ.match(l).group(3)) >= 2 for _, l, _ in run):
                neq += 1
                found.append(('=', run[0][0], run[-1][0]))
                cols = {}
                for ln, l, c in run:
                    cols.setdefault(c, []).append(ln)
                if len(cols) > 1:
                    main = max(cols, key=lambda c: len(cols[c]))
                    bad = [(ln, l) for ln, l, c in run if c != main]
                    msg = '; '.join(f"line {ln}: '=' at column {c}" for ln, l, c in run if c != main)
                    problems.append((bad + [next((ln, l) for ln, l, c in run if c == main)],
                                     f"'=' not aligned: most at column {main}; {msg}"))
                in_eq.update(ln for ln, _, _ in run)
            k = max(j, k + 1)
        # tables
        block, base = [], None

        def flush():
            nonlocal block, ntables
            if len(block) >= 2:
                res = check_table(block)
                if res is not None:
                    ntables += 1
                    found.append(('table', block[0][0], block[-1][0]))
                    if res:
                        problems.append(([(ln, l) for ln, l, _ in block], '; '.join(res)))
            block = []

        rows = [(ln, line, cells(line), indent_of(line)) for ln, line in para]
        for k, (ln, line, c, ind) in enumerate(rows):
            if ln in in_eq:
                flush()
                base = None
                continue
            if block and ind > base:
                # deeper: a row whose first cell is empty (it starts where a
                # cell of the first row does), else a detail line under a row
                first = block[0][2]
                if len(c) >= 2 and all(any(s == f[0] or e == f[1] for f in first) for s, e, _ in c):
                    block.append((ln, line, c))
                continue
            if len(c) >= 2:
                if block and ind == base:
                    block.append((ln, line, c))
                else:
                    flush()
                    block, base = [(ln, line, c)], ind
                continue
            if block and ind == base:
                # one cell between rows: a row whose cells ran together
                nxt = next((r for r in rows[k + 1:] if r[3] <= base), None)
                if nxt and len(nxt[2]) >= 2 and nxt[3] == base and nxt[0] not in in_eq:
                    block.append((ln, line, c))
                    continue
            flush()
            base = None
        flush()
    return ntables, neq, problems


def ruler(lines):
    """The lines with their display columns marked, for the failure report."""
    clip = 160  # columns shown
    lines = [(ln, l if display_width(l) <= clip else l[:clip] + ' …') for ln, l in lines]
    width = min(clip, max(display_width(l) for _, l in lines))
    top = ''.join(str((k // 10) % 10) if k % 10 == 0 else ' ' for k in range(width))
    bot = ''.join(str(k % 10) for k in range(width))
    out = [f'      {"":>5}  {top}', f'      {"":>5}  {bot}']
    out += [f'      {ln:>5}: {l}' for ln, l in lines]
    return '\n'.join(out)


def main(argv):
    if argv and argv[0] == '--self-test':
        return self_test()
    ok = bad = tables = eqs = 0
    label = None
    verbose = False
    i = 0
    while i < len(argv):
        if argv[i] == '--verbose':
            verbose = True
            i += 1
            continue
        if argv[i] == '--label':
            label = argv[i + 1]
            i += 2
            continue
        path = argv[i]
        i += 1
        with open(path, encoding='utf-8') as f:
            text = f.read()
        name = label or path
        label = None
        found = []
        t, e, problems = check_text(text, found)
        if verbose:
            for kind, a, b in found:
                print(f'align: {name}: lines {a}-{b}: {kind} block')
        tables += t
        eqs += e
        if problems:
            bad += 1
            for lines, msg in problems:
                print(f'FAIL align {name}: {msg}')
                print(ruler(sorted(set(lines))[:12]))
        else:
            ok += 1
    print(f'RESULT {ok} {bad} {tables} {eqs}')
    return 1 if bad else 0


# ------------------------------------------------------------------ self-test

SELF_TESTS = [
    # (name, text, expected number of problems)
    ('aligned table with subscripts', 'param  value\nw₁₂₂   0.5\nb₃     -1\n', 0),
    ('padded by bytes, not width', 'param  value\nw₁₂₂  0.5\nb₃      -1\n', 1),
    ('combining mark is width 0', 'n    v\ny\u0302    1\nab   2\n', 0),
    ('combining mark counted as a column', 'n    v\ny\u0302   1\nab   2\n', 1),
    ('wide characters are 2', 'k     v\n漢字  1\nabcd  2\n', 0),
    ('wide counted as 1', 'k     v\n漢字    1\nabcd  2\n', 1),
    ('right-aligned numbers', 'name   count\nab         1\nabc       10\nx        100\nyy        20\n', 0),
    ('right-aligned numbers, one off', 'name   count\nab         1\nabc       10\nx         100\nyy        20\n', 1),
    ('a cell runs over the next column', 'a    b    c\nxx   yy   zz\nxxxxxxx yy zz\nq    r    s\n', 1),
    ('free text after the last column', 'line 23   holds   a   = x\nline 24   holds   bc = y\nline 25   fails   d = z\n', 0),
    ('details under a row are passed over', 'a   b   c\n    at x = 1,  y = 2\nd   e   f\n', 0),
    ('fixed separators are no table', '  aa + b    (drift 1)\n  c    (drift 2)\n  dddd − e    (drift 3)\n', 0),
    ('equal widths, equal gaps: aligned', 'line 20   holds   x\nline 21   fails   y\n', 0),
    ('prose with sentence gaps', 'It holds.  Where both sides agree.  Fine.\nAnother line.  With more.  Text here.\n', 0),
    ("'=' aligned", '∂C/∂w₁₁₁ = a\n∂C/∂b₁   = b\n∂C/∂v    = c\n', 0),
    ("'=' misaligned", '∂C/∂w₁₁₁ = a\n∂C/∂b₁  = b\n∂C/∂v    = c\n', 1),
    ("'=' with no padding is no block", 'a = b\ncc = d\n', 0),
    ('two rows shifted', 'name    value\nw₁₁      3\n', 1),
    ('a tab', 'a  b\nc\td\n', 1),
]


def self_test():
    ok = bad = 0
    for name, text, want in SELF_TESTS:
        _, _, problems = check_text(text)
        if len(problems) != want:
            bad += 1
            print(f"FAIL align self-test '{name}': {len(problems)} problems, expected {want}")
            for _, msg in problems:
                print(f'    {msg}')
        else:
            ok += 1
    print(f'RESULT {ok} {bad} 0 0')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
