#!/usr/bin/env bash
# `gradproof report`: the LaTeX report of every case against its golden file
# (the Markdown reports are docs/reports/, checked by docs.sh), the JSON
# document, the exit status, -o and the linked picture, usage errors, and
# the LaTeX fragment compiled inside a document where a TeX installation
# exists (tests/katex.sh compiles the complete documents).
# GP_UPDATE_GOLDEN=1 rewrites the golden files (review the diff like code).
# Usage: report.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
export LC_ALL=C
pass=0 fail=0
gold=$repo/tests/golden/report
mkdir -p "$gold"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ok()  { pass=$((pass+1)); }
bad() { echo "FAIL report: $*"; fail=$((fail+1)); }

have_tex=0
command -v pdflatex >/dev/null 2>&1 && have_tex=1
[ $have_tex = 1 ] || echo "note: pdflatex not found: the LaTeX fragment is not compiled (apt-get install texlive-latex-recommended)"

for case in "$repo"/cases/*.case; do
  name=$(basename "$case" .case)
  # the verdicts the report must reflect in its exit status
  (cd "$repo" && "$bin" check "cases/$name.case" --json) >"$tmp/check.json" 2>/dev/null
  want=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["claims"]; print(0 if d["ok"] and (c is None or c["ok"]) else 1)' "$tmp/check.json")

  # LaTeX: golden
  (cd "$repo" && "$bin" report "cases/$name.case" --format latex) >"$tmp/$name.tex" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne "$want" ]; then bad "$name: latex exit $rc, expected $want"; cat "$tmp/err"; fi
  if [ "${GP_UPDATE_GOLDEN:-}" = 1 ]; then cp "$tmp/$name.tex" "$gold/$name.tex"; fi
  if cmp -s "$tmp/$name.tex" "$gold/$name.tex"; then ok; else
    bad "$name.tex differs from tests/golden/report/$name.tex"; diff "$gold/$name.tex" "$tmp/$name.tex" | head -20
  fi

  # JSON: one document with every section, consistent with the verbs
  (cd "$repo" && "$bin" report "cases/$name.case" --format json) >"$tmp/r.json" 2>"$tmp/err"
  rc=$?
  [ $rc -eq "$want" ] && ok || bad "$name: json exit $rc, expected $want"
  (cd "$repo" && "$bin" derive "cases/$name.case" --format json) >"$tmp/d.json"
  if python3 - "$tmp/r.json" "$tmp/d.json" "$tmp/check.json" <<'EOF'
import json, sys
r, d, c = (json.load(open(f)) for f in sys.argv[1:])
assert r["gradproof"] and r["case"].endswith(".case") and isinstance(r["title"], str)
assert isinstance(r["network"], list) and any(s.startswith("loss") for s in r["network"])
assert r["derive"]["derivatives"] == d["derivatives"], "derive section differs from derive --json"
assert [p["param"] for p in r["check"]["params"]] == [p["param"] for p in c["params"]]
assert r["check"]["ok"] == c["ok"]
want_claims = c["claims"]["claims"] if c["claims"] else []
assert [(x["line"], x["verdict"]) for x in r["claims"]["claims"]] == [(x["line"], x["verdict"]) for x in want_claims]
assert r["symmetry"]["params"] == len(d["derivatives"])
assert r["diagnostics"] == []
EOF
  then ok; else bad "$name: the JSON report"; fi

  # Markdown: the title heading, every section, the check's figures
  (cd "$repo" && "$bin" report "cases/$name.case") >"$tmp/r.md" 2>/dev/null
  if head -1 "$tmp/r.md" | grep -q '^# ' && [ "$(grep -c '^## ' "$tmp/r.md")" -eq 5 ]; then ok; else bad "$name: markdown sections"; fi
done

# the fragment is the sections alone and goes into a document of one's own
(cd "$repo" && "$bin" report cases/seed000_linear_221.case --format latex --fragment) >"$tmp/frag.tex" 2>/dev/null
if grep -q 'documentclass' "$tmp/frag.tex" || ! grep -q '\\section{Derivatives}' "$tmp/frag.tex"; then bad "--fragment"; else ok; fi
if [ $have_tex = 1 ]; then
  printf '%s\n' '\documentclass{article}' '\usepackage[T1]{fontenc}' '\usepackage{amsmath,amssymb,longtable}' \
    '\begin{document}' '\input{frag}' '\end{document}' >"$tmp/host.tex"
  (cd "$tmp" && pdflatex -interaction=nonstopmode -halt-on-error host.tex >host.texlog 2>&1) && ok || bad "the fragment does not compile inside a document"
fi

# -o FILE, and the picture next to it linked
(cd "$repo" && "$bin" report cases/seed000_linear_221.case -o "$tmp/seed000.md") >"$tmp/out" 2>/dev/null
[ -s "$tmp/seed000.md" ] && [ ! -s "$tmp/out" ] && ok || bad "-o FILE"
grep -q '!\[' "$tmp/seed000.md" && bad "a picture linked that does not exist" || ok
echo '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$tmp/seed000.svg"
(cd "$repo" && "$bin" report cases/seed000_linear_221.case -o "$tmp/seed000.md") 2>/dev/null
grep -q '^!\[the network\](seed000.svg)$' "$tmp/seed000.md" && ok || bad "the SVG next to -o FILE is not linked"
(cd "$repo" && "$bin" report cases/seed000_linear_221.case --picture 'pics/net 1.svg') 2>/dev/null | grep -q '^!\[the network\](pics/net%201.svg)$' && ok || bad "--picture"
(cd "$repo" && "$bin" report cases/seed000_linear_221.case -o /nonexistent/dir/x.md) >/dev/null 2>"$tmp/err"
[ $? -eq 3 ] && grep -q "cannot write" "$tmp/err" && ok || bad "an unwritable -o is not exit 3"

# usage
expect() {
  local want=$1; shift
  (cd "$repo" && "$bin" report "$@") >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ $rc -eq "$want" ] && ok || { bad "report $* exited $rc, expected $want"; head -3 "$tmp/err"; }
}
expect 0 --help
grep -q "usage: gradproof report" "$tmp/out" && ok || bad "--help text"
expect 2 cases/seed000_linear_221.case --format text
expect 2 cases/seed000_linear_221.case --fragment
expect 2 cases/seed000_linear_221.case --highlight w111
expect 2
expect 2 cases/nonexistent.case
expect 1 - <"$repo/cases/seed000_linear_221.case"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
