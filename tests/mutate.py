#!/usr/bin/env python3
"""Mutation meta-test for gradproof ("no false verdicts", issue 7 item 4).

Usage: mutate.py GRADPROOF REPO [--seed S] [--per-claim N] [--per-def N]

For every case in REPO/cases:

 (a) claim mutants: each claim that holds on the original case gets its
     claimed side (the right side of `dA/dB = E`, or of `E1 == E2`) mutated.
     Next to each mutated claim the same case gets an oracle claim
     `E_original == E_mutated` (an identity, judged by evaluating both sides,
     exactly where rational).  The oracle failing means the mutation changed
     the value, so the mutated claim must not hold.
 (b) network mutants: a definition, constant or the loss is mutated; every
     claim `dLOSS/dPARAM = E` that held is kept.  The mutated derivative is
     derived (`derive --expand --format json`), cross-checked by the three
     routes (`check --json`: MPFR symbolic vs MPFR finite differences vs the
     double backprop), and written out in the case as an oracle claim
     `E == <expanded mutated derivative>`.  The kept claim must hold exactly
     when the oracle holds.  (The claim's right side may use the mutated
     intermediates too, so "the derivative changed" alone does not decide
     the verdict; it is counted as information, from an extra claim
     `dLOSS/dPARAM = <expanded original derivative>`.)

Also: `claims --json` and `check --json --seed S` run twice on every case give
byte-identical output.

Counts per case and in total; the run fails on any false pass (a claim that
holds although its value changed), on a false fail (a claim that fails although
the oracle says it is unchanged), on an `unknown` without a reason, on routes
that disagree, and on nondeterministic output.
Mutants are sampled deterministically (fixed seed) down to --per-claim per
claim and --per-def per definition.
"""
import json
import os
import random
import shutil
import re
import subprocess
import sys
import tempfile
from fractions import Fraction

# ---------------------------------------------------------------- lexing

TOK = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z][A-Za-z0-9_]*)"
                 r"|(?P<op>\.\.|==|[-+*/^()\[\],=]))")

FUNCS = {"exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "softplus", "sin", "cos", "step", "sign"}
FSWAP = {"sigmoid": "tanh", "tanh": "sigmoid", "exp": "softplus", "softplus": "exp", "log": "sqrt",
         "sqrt": "abs", "relu": "abs", "abs": "relu", "sin": "cos", "cos": "sin", "step": "sign", "sign": "step"}


def lex(s):
    out, i = [], 0
    s = s.rstrip()
    while i < len(s):
        m = TOK.match(s, i)
        if not m or m.end() == i:
            if s[i:].strip() == "":
                break
            raise SyntaxError("cannot lex %r at %d" % (s, i))
        i = m.end()
        for k in ("num", "name", "op"):
            if m.group(k) is not None:
                out.append((k, m.group(k)))
    return out


def strip_comment(line):
    q = False
    for i, c in enumerate(line):
        if c == '"':
            q = not q
        elif c == "#" and not q:
            return line[:i]
    return line


# ---------------------------------------------------------------- parsing

class P:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else (None, None)

    def take(self, v=None):
        tok = self.peek()
        if v is not None and tok[1] != v:
            raise SyntaxError("expected %r, got %r" % (v, tok[1]))
        self.i += 1
        return tok

    def expr(self):
        a = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            a = ("bin", op, a, self.term())
        return a

    def term(self):
        a = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            a = ("bin", op, a, self.unary())
        return a

    def unary(self):
        if self.peek()[1] == "-":
            self.take()
            return ("neg", self.unary())
        if self.peek()[1] == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self):
        a = self.primary()
        if self.peek()[1] == "^":
            self.take()
            return ("bin", "^", a, self.unary())
        return a

    def indices(self):
        idx = []
        while self.peek()[1] == "[":
            self.take("[")
            j, depth = self.i, 0
            while True:
                k, v = self.peek()
                if v is None:
                    raise SyntaxError("open [")
                if v == "[":
                    depth += 1
                if v == "]":
                    if depth == 0:
                        break
                    depth -= 1
                self.i += 1
            idx.append([v for _, v in self.t[j:self.i]])
            self.take("]")
        return idx

    def primary(self):
        k, v = self.peek()
        if k == "num":
            self.take()
            return ("num", Fraction(v))
        if v == "(":
            self.take()
            e = self.expr()
            self.take(")")
            return e
        if k == "name":
            self.take()
            if v in FUNCS and self.peek()[1] == "(":
                self.take("(")
                e = self.expr()
                self.take(")")
                return ("call", v, e)
            if v in ("sum", "mean") and self.peek()[1] == "(":
                self.take("(")
                if v == "sum" and self.peek()[0] == "name" and self.peek(1)[1] == "=":
                    var = self.take()[1]
                    self.take("=")
                    lo = self.idxexpr(("..",))
                    self.take("..")
                    hi = self.idxexpr((",",))
                    self.take(",")
                    e = self.expr()
                    self.take(")")
                    return ("isum", var, lo, hi, e)
                e = self.expr()
                self.take(")")
                return ("red", v, e)
            idx = self.indices()
            # dA/dB inside a claim: a derivative
            if (v.startswith("d") and len(v) > 1 and self.peek()[1] == "/" and self.peek(1)[0] == "name"
                    and self.peek(1)[1].startswith("d") and len(self.peek(1)[1]) > 1):
                self.take("/")
                w = self.take()[1]
                idx2 = self.indices()
                return ("deriv", v + fmt_idx(idx) + "/" + w + fmt_idx(idx2))
            if idx:
                return ("idx", v, idx)
            return ("name", v)
        raise SyntaxError("unexpected %r" % (v,))

    def idxexpr(self, stops):
        j, depth = self.i, 0
        while True:
            k, v = self.peek()
            if v is None:
                raise SyntaxError("eof in index expression")
            if depth == 0 and v in stops:
                break
            if v in ("(", "["):
                depth += 1
            if v in (")", "]"):
                depth -= 1
            self.i += 1
        return [v for _, v in self.t[j:self.i]]


def fmt_idx(idx):
    return "".join("[" + "".join(x) + "]" for x in idx)


def parse_expr(s):
    p = P(lex(s))
    e = p.expr()
    if p.i != len(p.t):
        raise SyntaxError("trailing tokens in %r" % s)
    return e


def fmt_num(q):
    if q.denominator == 1:
        s = str(q.numerator)
    else:
        s = "%d/%d" % (q.numerator, q.denominator)
    return s if (q.denominator == 1 and q >= 0) else "(" + s + ")"


def show(e):
    t = e[0]
    if t == "num":
        return fmt_num(e[1])
    if t == "name":
        return e[1]
    if t == "idx":
        return e[1] + fmt_idx(e[2])
    if t == "deriv":
        return "(" + e[1] + ")"
    if t == "call":
        return "%s(%s)" % (e[1], show(e[2]))
    if t == "red":
        return "%s(%s)" % (e[1], show(e[2]))
    if t == "isum":
        return "sum(%s = %s..%s, %s)" % (e[1], " ".join(e[2]), " ".join(e[3]), show(e[4]))
    if t == "neg":
        return "(-%s)" % show(e[1])
    if t == "bin":
        return "(%s %s %s)" % (show(e[2]), e[1], show(e[3]))
    raise ValueError(t)


# ---------------------------------------------------------------- mutation

def int_of(tokens):
    if len(tokens) == 1 and re.fullmatch(r"\d+", tokens[0]):
        return int(tokens[0])
    if len(tokens) == 2 and tokens[0] == "-" and re.fullmatch(r"\d+", tokens[1]):
        return -int(tokens[1])
    return None


def mutants(e, ranges):
    """All single mutations of e: (description, new expression)."""
    t = e[0]
    if t == "num":
        q = e[1]
        yield ("const %s -> %s" % (fmt_num(q), fmt_num(q + 1)), ("num", q + 1))
    elif t == "idx":
        name, idx = e[1], e[2]
        dims = ranges.get(name)
        for d, x in enumerate(idx):
            v = int_of(x)
            if v is None or dims is None or d >= len(dims):
                continue
            lo, hi = dims[d]
            for nv in (v + 1, v - 1):
                if lo <= nv <= hi:
                    new = [list(y) for y in idx]
                    new[d] = [str(nv)] if nv >= 0 else ["-", str(-nv)]
                    yield ("index %s%s -> %s%s" % (name, fmt_idx(idx), name, fmt_idx(new)), ("idx", name, new))
    elif t == "call":
        f = e[1]
        if f in FSWAP:
            yield ("function %s -> %s" % (f, FSWAP[f]), ("call", FSWAP[f], e[2]))
        for d, m in mutants(e[2], ranges):
            yield (d, ("call", f, m))
    elif t == "red":
        other = "sum" if e[1] == "mean" else "mean"
        yield ("reduction %s -> %s" % (e[1], other), ("red", other, e[2]))
        for d, m in mutants(e[2], ranges):
            yield (d, ("red", e[1], m))
    elif t == "isum":
        lo, hi = int_of(e[2]), int_of(e[3])
        if lo is not None and hi is not None and lo < hi:
            yield ("sum bound %d..%d -> %d..%d" % (lo, hi, lo + 1, hi), ("isum", e[1], [str(lo + 1)], e[3], e[4]))
            yield ("sum bound %d..%d -> %d..%d" % (lo, hi, lo, hi - 1), ("isum", e[1], e[2], [str(hi - 1)], e[4]))
        for d, m in mutants(e[4], ranges):
            yield (d, ("isum", e[1], e[2], e[3], m))
    elif t == "neg":
        yield ("drop unary minus", e[1])
        for d, m in mutants(e[1], ranges):
            yield (d, ("neg", m))
    elif t == "bin":
        op, a, b = e[1], e[2], e[3]
        sw = {"+": "-", "-": "+", "*": "/", "/": "*"}.get(op)
        if sw:
            yield ("operator %s -> %s" % (op, sw), ("bin", sw, a, b))
        if op in ("*", "/"):
            yield ("drop factor %s" % show(b), a)
            if op == "*":
                yield ("drop factor %s" % show(a), b)
        if op in ("+", "-"):
            yield ("drop term %s" % show(b), a)
            yield ("drop term %s" % show(a), b if op == "+" else ("neg", b))
        for d, m in mutants(a, ranges):
            yield (d, ("bin", op, m, b))
        for d, m in mutants(b, ranges):
            yield (d, ("bin", op, a, m))


def sample(lst, n, rng):
    if len(lst) <= n:
        return list(lst)
    keep = sorted(rng.sample(range(len(lst)), n))
    return [lst[i] for i in keep]


# ---------------------------------------------------------------- case files

def statements(text):
    """(first line number, [line numbers], statement text without comments)."""
    out, cur, lines, depth = [], [], [], 0
    for n, raw in enumerate(text.split("\n"), 1):
        s = strip_comment(raw)
        if not cur and not s.strip():
            continue
        cur.append(s)
        lines.append(n)
        depth += s.count("(") + s.count("[") - s.count(")") - s.count("]")
        if depth <= 0:
            out.append((lines[0], lines, " ".join(x.strip() for x in cur)))
            cur, lines, depth = [], [], 0
    if cur:
        out.append((lines[0], lines, " ".join(x.strip() for x in cur)))
    return out


def split_top(s, sep):
    """Split s at the first top-level occurrence of token sep."""
    depth = 0
    toks = list(TOK.finditer(s))
    for m in toks:
        v = m.group(m.lastgroup)
        if v in ("(", "["):
            depth += 1
        elif v in (")", "]"):
            depth -= 1
        elif v == sep and depth == 0:
            return s[:m.start()].strip(), s[m.end():].strip()
    return None


def parse_range(s):
    lo, hi = s.split("..")
    return int(lo), int(hi)


def declared_ranges(stmts):
    """Per indexed name, per dimension, the (min, max) of its indices."""
    ranges = {}

    def add(name, dims):
        old = ranges.get(name)
        if old is None or len(old) != len(dims):
            ranges[name] = list(dims)
        else:
            ranges[name] = [(min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(old, dims)]

    for _, _, s in stmts:
        words = s.split(None, 1)
        if not words:
            continue
        if words[0] in ("input", "target", "param") and len(words) > 1:
            for item in re.findall(r"[A-Za-z][A-Za-z0-9_]*(?:\[[^\]]*\])*", words[1]):
                m = re.match(r"([A-Za-z][A-Za-z0-9_]*)(.*)", item)
                dims = [parse_range(d) if ".." in d else (int(d), int(d)) for d in re.findall(r"\[([^\]]*)\]", m.group(2))]
                if dims:
                    add(m.group(1), dims)
            continue
        m = re.match(r"([A-Za-z][A-Za-z0-9_]*)((?:\[[^\]]*\])+)\s*=(.*)$", s)
        if m and words[0] not in ("claim", "loss", "const", "at"):
            fors = {}
            fm = re.search(r"\bfor\b(.*)$", m.group(3))
            if fm:
                for part in fm.group(1).split(","):
                    v, r = part.split(" in ")
                    fors[v.strip()] = parse_range(r.strip())
            dims = []
            try:
                for d in re.findall(r"\[([^\]]*)\]", m.group(2)):
                    d = d.strip()
                    dims.append(fors[d] if d in fors else (int(d), int(d)))
            except (KeyError, ValueError):
                continue
            add(m.group(1), dims)
    return ranges


# ---------------------------------------------------------------- running

class Runner:
    def __init__(self, bin_, tmp):
        self.bin, self.tmp, self.n = bin_, tmp, 0

    def run(self, args, text=None, path=None):
        if text is not None:
            self.n += 1
            path = os.path.join(self.tmp, "m%d.case" % self.n)
            with open(path, "w") as f:
                f.write(text)
        r = subprocess.run([self.bin] + args[:1] + [path] + args[1:], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        return r.returncode, r.stdout, r.stderr, path


def claims_json(runner, text):
    rc, out, err, path = runner.run(["claims", "--json"], text=text)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return rc, doc, err, path


def verdicts_by_line(doc):
    return {c["line"]: c for c in doc.get("claims", [])}


def main():
    args = sys.argv[1:]
    opts = {"--seed": "20261123", "--per-claim": "8", "--per-def": "6"}
    pos = []
    while args:
        a = args.pop(0)
        if a in opts:
            opts[a] = args.pop(0)
        else:
            pos.append(a)
    bin_, repo = pos
    seed, per_claim, per_def = int(opts["--seed"]), int(opts["--per-claim"]), int(opts["--per-def"])
    tmp = tempfile.mkdtemp(prefix="gp_mutation_")
    runner = Runner(bin_, tmp)
    problems = []
    passed = 0
    tot = {"a_mut": 0, "a_killed": 0, "a_equiv": 0, "a_unknown": 0, "a_false": 0, "a_invalid": 0, "a_gen": 0,
           "b_mut": 0, "b_claims": 0, "b_killed": 0, "b_equiv": 0, "b_unknown": 0, "b_false": 0, "b_invalid": 0,
           "b_gen": 0, "b_dchanged": 0}
    casedir = os.path.join(repo, "cases")
    # data files referenced by the cases (relative to the case file) go next to the mutants
    for fn in os.listdir(casedir):
        if not fn.endswith(".case") and os.path.isfile(os.path.join(casedir, fn)):
            shutil.copy(os.path.join(casedir, fn), tmp)
    print("mutation sampling: seed %d, at most %d mutants per claim (family a), %d per definition (family b)"
          % (seed, per_claim, per_def))
    for fn in sorted(os.listdir(casedir)):
        if not fn.endswith(".case"):
            continue
        cpath = os.path.join(casedir, fn)
        name = fn[:-5]
        with open(cpath) as f:
            text = f.read()
        lines = text.split("\n")
        # ---- determinism
        for verb in (["claims", "--json"], ["check", "--json", "--seed", "7"]):
            o1 = runner.run(verb, path=cpath)
            o2 = runner.run(verb, path=cpath)
            if o1[:3] != o2[:3]:
                problems.append("%s: '%s' output differs between two runs" % (name, " ".join(verb)))
            else:
                passed += 1
        rc, out, err, _ = runner.run(["claims", "--json"], path=cpath)
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
        if doc is None:
            problems.append("%s: claims --json gave no JSON (exit %d): %s" % (name, rc, err.decode()[:300]))
            continue
        # one generator per case: adding a case does not change the others' sample
        rng = random.Random("%d:%s" % (seed, name))
        stmts = statements(text)
        ranges = declared_ranges(stmts)
        byline = verdicts_by_line(doc)
        # case text without its claims (claim lines blanked, line numbers kept)
        claim_lines = set()
        for first, ls, s in stmts:
            if s.split(None, 1)[0] == "claim":
                claim_lines.update(ls)
        base = "\n".join("" if i + 1 in claim_lines else l for i, l in enumerate(lines)).rstrip("\n") + "\n"
        base_n = base.count("\n")
        loss_name = None
        for _, _, s in stmts:
            m = re.match(r"loss\s+([A-Za-z][A-Za-z0-9_]*)\s*=", s)
            if m:
                loss_name = m.group(1)
        holding = []  # (kind, lhs, rhs_text, rhs_ast)
        for first, ls, s in stmts:
            if s.split(None, 1)[0] != "claim":
                continue
            v = byline.get(first)
            if not v or v["verdict"] != "holds":
                continue
            body = s.split(None, 1)[1]
            sp = split_top(body, "==")
            kind = "identity"
            if sp is None:
                sp = split_top(body, "=")
                kind = "derivative"
            lhs, rhs = sp
            try:
                ast = parse_expr(rhs)
            except SyntaxError as ex:
                problems.append("%s:%d: mutate.py cannot parse %r: %s" % (name, first, rhs, ex))
                continue
            holding.append((kind, lhs, rhs, ast))
        cnt = dict.fromkeys(tot, 0)

        # ---------------- family (a): mutate the claimed side
        amuts = []  # (claim index, desc, mutated text)
        for ci, (kind, lhs, rhs, ast) in enumerate(holding):
            allm = []
            seen = set()
            for d, m in mutants(ast, ranges):
                s = show(m)
                if s not in seen and s != show(ast):
                    seen.add(s)
                    allm.append((d, s))
            cnt["a_gen"] += len(allm)
            for d, s in sample(allm, per_claim, rng):
                amuts.append((ci, d, s))

        def a_text(items):
            out, where = base, []
            n = base_n
            for ci, d, s in items:
                kind, lhs, rhs, ast = holding[ci]
                sep = " == " if kind == "identity" else " = "
                out += "claim %s%s%s\n" % (lhs, sep, s)
                out += "claim (%s) == %s\n" % (rhs, s)
                where.append((n + 1, n + 2))
                n += 2
            return out, where

        def a_judge(item, vc, vo):
            ci, d, s = item
            kind, lhs, rhs, _ = holding[ci]
            tag = "%s: claim %s %s %s  [%s]" % (name, lhs, "==" if kind == "identity" else "=", s, d)
            cnt["a_mut"] += 1
            if vo["verdict"] == "holds":
                cnt["a_equiv"] += 1
                print("  equivalent (skipped): %s: the identity %s == %s holds" % (tag, rhs, s))
                if vc["verdict"] == "fails":
                    problems.append("FALSE FAIL " + tag + ": the mutated claim fails but the identity "
                                    "original == mutated holds")
                elif vc["verdict"] == "unknown":
                    cnt["a_unknown"] += 1
                return
            if vc["verdict"] == "fails":
                cnt["a_killed"] += 1
            elif vc["verdict"] == "unknown":
                cnt["a_unknown"] += 1
                if not vc.get("reason") and not vc.get("diagnosis"):
                    problems.append("UNKNOWN WITHOUT REASON " + tag)
            else:  # holds
                if vo["verdict"] == "fails":
                    cnt["a_false"] += 1
                    problems.append("FALSE PASS " + tag + ": holds, but the identity original == mutated fails: "
                                    + json.dumps(vo.get("counterexample"))[:400])
                else:
                    cnt["a_unknown"] += 1  # oracle unknown, claim holds: cannot decide

        if amuts:
            t, where = a_text(amuts)
            rc, d2, err, path = claims_json(runner, t)
            if d2 is not None and rc in (0, 1):
                vb = verdicts_by_line(d2)
                for item, (lc, lo) in zip(amuts, where):
                    a_judge(item, vb[lc], vb[lo])
            else:
                # some mutant is not valid input: judge them one by one
                for item in amuts:
                    t, where = a_text([item])
                    rc, d2, err, path = claims_json(runner, t)
                    if d2 is None or rc not in (0, 1):
                        cnt["a_invalid"] += 1
                        continue
                    vb = verdicts_by_line(d2)
                    a_judge(item, vb[where[0][0]], vb[where[0][1]])

        # ---------------- family (b): mutate the network
        keep = [(lhs, rhs) for kind, lhs, rhs, _ in holding
                if kind == "derivative" and loss_name and re.fullmatch(r"d%s\s*/\s*d(.+)" % re.escape(loss_name), lhs)]
        params = []
        for lhs, rhs in keep:
            params.append(re.fullmatch(r"d%s\s*/\s*d(.+)" % re.escape(loss_name), lhs).group(1).replace(" ", ""))
        rc, out, err, _ = runner.run(["derive", "--expand", "--format", "json"], path=cpath)
        orig_d = {}
        if rc == 0:
            dj = json.loads(out)
            if not dj.get("auxiliaries"):
                orig_d = {x["param"]: x["expr"] for x in dj["derivatives"]}
        bmuts = []
        if keep:
            for first, ls, s in stmts:
                w = s.split(None, 1)
                if w[0] in ("claim", "title", "input", "target", "param", "output", "data", "at", "end"):
                    continue
                if w[0] != "loss" and w[0] != "const" and not re.match(r"[A-Za-z][A-Za-z0-9_]*\s*(\[|=)", s):
                    continue
                sp = split_top(s, "=")
                if sp is None:
                    continue
                lhs, rhs = sp
                tail = ""
                fm = re.search(r"\s+for\s+[A-Za-z].*$", rhs)
                if fm:
                    rhs, tail = rhs[:fm.start()], rhs[fm.start():]
                try:
                    ast = parse_expr(rhs)
                except SyntaxError as ex:
                    problems.append("%s:%d: mutate.py cannot parse %r: %s" % (name, first, rhs, ex))
                    continue
                allm, seen = [], set()
                for d, m in mutants(ast, ranges):
                    st = show(m)
                    if st not in seen and st != show(ast):
                        seen.add(st)
                        allm.append((d, "%s = %s%s" % (lhs, st, tail)))
                cnt["b_gen"] += len(allm)
                for d, new in sample(allm, per_def, rng):
                    bmuts.append((first, ls, d, new))
        for first, ls, d, new in bmuts:
            ml = list(base.split("\n"))
            for i, l in enumerate(ls):
                ml[l - 1] = new if i == 0 else ""
            mtext = "\n".join(ml)
            tag = "%s:%d mutated to '%s' [%s]" % (name, first, new, d)
            rc, out, err, mpath = runner.run(["derive", "--expand", "--format", "json"], text=mtext)
            if rc != 0:
                cnt["b_invalid"] += 1
                continue
            dj = json.loads(out)
            if dj.get("auxiliaries"):
                cnt["b_invalid"] += 1
                continue
            mut_d = {x["param"]: x["expr"] for x in dj["derivatives"]}
            rc, out, err, _ = runner.run(["check", "--json", "--seed", "1"], path=mpath)
            try:
                cj = json.loads(out)
            except ValueError:
                cj = None
            if cj is None or rc not in (0, 1):
                cnt["b_invalid"] += 1
                continue
            if not cj.get("ok"):
                bad = [p for p in cj.get("params", []) if not p.get("ok")]
                if bad:
                    problems.append("ROUTES DISAGREE " + tag + ": " + json.dumps(bad[0])[:400])
            cnt["b_mut"] += 1
            t, n, where = mtext.rstrip("\n") + "\n", mtext.rstrip("\n").count("\n") + 1, []
            for (lhs, rhs), p in zip(keep, params):
                if p not in mut_d:
                    continue
                t += "claim %s = %s\n" % (lhs, rhs)
                t += "claim (%s) == %s\n" % (rhs, mut_d[p])
                lines3 = [n + 1, n + 2]
                n += 2
                if p in orig_d:
                    t += "claim %s = %s\n" % (lhs, orig_d[p])
                    n += 1
                    lines3.append(n)
                where.append((lhs, rhs, lines3))
            rc, d2, err, path = claims_json(runner, t)
            if d2 is None or rc not in (0, 1):
                problems.append("%s: the claims of the mutant do not run (exit %d): %s"
                                % (tag, rc, err.decode()[:300]))
                continue
            vb = verdicts_by_line(d2)
            for lhs, rhs, ln in where:
                vc, vo = vb[ln[0]], vb[ln[1]]
                cnt["b_claims"] += 1
                if len(ln) > 2 and vb[ln[2]]["verdict"] == "fails":
                    cnt["b_dchanged"] += 1
                ctag = "%s; claim %s = %s" % (tag, lhs, rhs)
                if vo["verdict"] == "holds":
                    cnt["b_equiv"] += 1
                    if vc["verdict"] == "fails":
                        problems.append("FALSE FAIL " + ctag + ": fails, but equals the derived derivative")
                    elif vc["verdict"] == "unknown":
                        cnt["b_unknown"] += 1
                elif vc["verdict"] == "fails":
                    cnt["b_killed"] += 1
                elif vc["verdict"] == "unknown":
                    cnt["b_unknown"] += 1
                    if not vc.get("reason") and not vc.get("diagnosis"):
                        problems.append("UNKNOWN WITHOUT REASON " + ctag)
                elif vo["verdict"] == "fails":
                    cnt["b_false"] += 1
                    problems.append("FALSE PASS " + ctag + ": holds, but differs from the derived derivative: "
                                    + json.dumps(vo.get("counterexample"))[:400])
                else:
                    cnt["b_unknown"] += 1
        print("%-22s (a) %3d holding claims, %4d mutants of %4d generated: %3d killed, %3d equivalent, "
              "%2d unknown, %d invalid, %d false passes | (b) %3d network mutants of %4d generated, "
              "%3d claim verdicts: %3d killed, %3d still true, %2d unknown, %d invalid, %d false passes "
              "(derivative changed: %d)"
              % (name, len(holding), cnt["a_mut"], cnt["a_gen"], cnt["a_killed"], cnt["a_equiv"], cnt["a_unknown"],
                 cnt["a_invalid"], cnt["a_false"], cnt["b_mut"], cnt["b_gen"], cnt["b_claims"], cnt["b_killed"],
                 cnt["b_equiv"], cnt["b_unknown"], cnt["b_invalid"], cnt["b_false"], cnt["b_dchanged"]))
        for k in tot:
            tot[k] += cnt[k]
        if cnt["a_mut"]:
            passed += 1
    print("TOTAL (a) claim mutants: %d of %d generated, %d killed, %d equivalent (skipped: the identity "
          "original == mutated holds), %d unknown, %d invalid, %d false passes"
          % (tot["a_mut"], tot["a_gen"], tot["a_killed"], tot["a_equiv"], tot["a_unknown"], tot["a_invalid"],
             tot["a_false"]))
    print("TOTAL (b) network mutants: %d of %d generated (%d invalid), %d claim verdicts: %d killed, "
          "%d still true, %d unknown, %d false passes; derivative changed in %d"
          % (tot["b_mut"], tot["b_gen"], tot["b_invalid"], tot["b_claims"], tot["b_killed"], tot["b_equiv"],
             tot["b_unknown"], tot["b_false"], tot["b_dchanged"]))
    for p in problems:
        print("FAIL " + p)
    if not problems:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("mutant files kept in " + tmp)
    print("%d passed, %d failed" % (passed, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
