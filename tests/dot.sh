#!/usr/bin/env bash
# `gradproof dot`: the picture of every case in cases/ (and a few with
# --highlight) compared byte for byte with tests/golden/dot/, every golden
# parsed by Graphviz's dot when it is installed, and the verb's CLI: errors,
# --svg, -o, standard input, --help, a locale with a decimal comma, and a
# 10^5-deep chain (GP_DEEP_N) that must not overflow the stack.
# GP_UPDATE_GOLDEN=1 rewrites the golden files (review the diff like code).
# Usage: dot.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
case $bin in /*) ;; */*) bin=$PWD/$bin ;; esac
case $repo in /*) ;; *) repo=$PWD/$repo ;; esac
export LC_ALL=C
pass=0 fail=0
gold=$repo/tests/golden/dot
mkdir -p "$gold"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass+1)); }
bad() { echo "FAIL $*"; fail=$((fail+1)); }

# golden NAME ARGS...: run `gradproof dot ARGS` from the repo, compare with NAME.dot
golden() {
  local name=$1; shift
  (cd "$repo" && "$bin" dot "$@") >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne 0 ]; then bad "dot-golden $name: exit $rc"; cat "$tmp/err"; return; fi
  if [ -s "$tmp/err" ]; then bad "dot-golden $name: unexpected stderr"; cat "$tmp/err"; return; fi
  if [ "${GP_UPDATE_GOLDEN:-}" = 1 ]; then cp "$tmp/out" "$gold/$name.dot"; fi
  if cmp -s "$tmp/out" "$gold/$name.dot"; then ok; else
    bad "dot-golden $name differs:"; diff "$gold/$name.dot" "$tmp/out" | head -20
  fi
}

# 1. every case, plain
for case in "$repo"/cases/*.case; do
  name=$(basename "$case" .case)
  golden "$name" "cases/$name.case"
done
# 2. highlighted: seed 001's figure 2 (dL/dw^1_21, the case's w1[2][1]), seed
#    003's first-layer weight with its three paths, a deep tanh weight, a
#    penalised weight (a path ends in the loss itself), a param nothing uses
golden seed001_quadratic.highlight-w1_2_1 cases/seed001_quadratic.case --highlight 'w1[2][1]'
golden seed003_sigmoid_2331.highlight-p1 cases/seed003_sigmoid_2331.case --highlight p1
golden tanh_mlp.highlight-W1_2_3 cases/tanh_mlp.case --highlight 'W1[2][3]'
golden linreg.highlight-w1 cases/linreg.case --highlight w1
golden seed002_typo.highlight-u0 cases/seed002_typo.case --highlight u0

# 3. every golden is a graph Graphviz reads
if command -v dot >/dev/null 2>&1; then
  for g in "$gold"/*.dot; do
    if dot -Tsvg "$g" -o "$tmp/g.svg" 2>"$tmp/err" && [ ! -s "$tmp/err" ] && grep -q '<svg' "$tmp/g.svg"; then ok; else
      bad "dot-parse $(basename "$g"): Graphviz says:"; head -5 "$tmp/err"
    fi
  done
else
  echo "skip: Graphviz's dot is not installed: the goldens are not parsed and --svg is not tried (apt-get install graphviz)"
fi

case1=$repo/cases/seed001_quadratic.case
# 4. a name that is no param: exit 2, the name on stderr, nothing on stdout
for p in nosuch yhat 'w1[9][1]' 'w1[2]'; do
  "$bin" dot "$case1" --highlight "$p" >"$tmp/out" 2>"$tmp/err"; rc=$?
  base=${p%%[*}
  if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && grep -q "error: .*'$base" "$tmp/err"; then ok; else
    bad "dot-cli highlight '$p': exit $rc (want 2)"; cat "$tmp/err"
  fi
done
"$bin" dot "$case1" --highlight nosuch 2>&1 >/dev/null | grep -q "unknown param 'nosuch'" && ok || bad "dot-cli: message for nosuch"
# --highlight without its argument is a usage error
"$bin" dot "$case1" --highlight >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ -s "$tmp/err" ] && ok || bad "dot-cli --highlight without a param: exit $rc"

# 5. -o FILE, standard input
"$bin" dot "$case1" -o "$tmp/o.dot" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && [ ! -s "$tmp/out" ] && cmp -s "$tmp/o.dot" "$gold/seed001_quadratic.dot"; then ok; else bad "dot-cli -o: exit $rc"; fi
(cd "$repo/cases" && "$bin" dot - <seed001_quadratic.case) >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/out" "$gold/seed001_quadratic.dot"; then ok; else bad "dot-cli stdin: exit $rc"; fi

# 6. --svg, into -o FILE and to stdout; without Graphviz on the PATH, exit 3
if command -v dot >/dev/null 2>&1; then
  "$bin" dot "$case1" --highlight 'w1[2][1]' --svg -o "$tmp/p.svg" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -eq 0 ] && [ ! -s "$tmp/out" ] && head -c 200 "$tmp/p.svg" | grep -q '<?xml' && grep -q '<svg' "$tmp/p.svg" &&
     grep -q 'w₁₂₁' "$tmp/p.svg"; then ok; else bad "dot-cli --svg -o: exit $rc"; cat "$tmp/err"; fi
  "$bin" dot "$case1" --svg >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -eq 0 ] && grep -q '</svg>' "$tmp/out"; then ok; else bad "dot-cli --svg to stdout: exit $rc"; fi
fi
mkdir -p "$tmp/emptybin"
PATH=$tmp/emptybin "$bin" dot "$case1" --svg -o "$tmp/q.svg" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 3 ] && grep -q "dot" "$tmp/err"; then ok; else bad "dot-cli --svg without Graphviz: exit $rc (want 3)"; cat "$tmp/err"; fi

# 7. --help
"$bin" dot --help >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "usage: gradproof dot" "$tmp/out" && grep -q -- "--highlight" "$tmp/out" && [ ! -s "$tmp/err" ]; then ok; else
  bad "dot-cli --help: exit $rc"; fi

# 8. the picture does not depend on the locale
loc=$(locale -a 2>/dev/null | grep -iE '^(de_DE|fr_FR|ru_RU).*utf-?8$' | head -1)
if [ -n "$loc" ]; then
  (cd "$repo" && LC_ALL=$loc "$bin" dot cases/tanh_mlp.case --highlight 'W1[2][3]') >"$tmp/out" 2>/dev/null
  if cmp -s "$tmp/out" "$gold/tanh_mlp.highlight-W1_2_3.dot"; then ok; else bad "dot-locale: differs under $loc"; fi
fi

# 9. a chain of GP_DEEP_N definitions: drawn, no stack overflow, linear size
n=${GP_DEEP_N:-100000}
{
  printf 'input x\ntarget y\nparam w a\nz0 = w*x\n'
  for ((i = 1; i <= n; i++)); do printf 'z%d = tanh(a*z%d)\n' $i $((i - 1)); done
  printf 'loss C = mean((z%d - y)^2)\n' "$n"
} >"$tmp/chain.case"
( ulimit -s 8192 2>/dev/null; "$bin" dot "$tmp/chain.case" --highlight a ) >"$tmp/out" 2>"$tmp/err"; rc=$?
edges=$(grep -c '^  n[0-9]* -> ' "$tmp/out")
if [ $rc -eq 0 ] && [ "$edges" -eq $((n + 3)) ] && grep -q "(red): $n\"" "$tmp/out"; then ok; else
  bad "dot-deep: chain of $n: exit $rc, $edges edges"; head -c 600 "$tmp/err"
fi
size=$(wc -c <"$tmp/out")
if [ "$size" -lt $((n * 400)) ]; then ok; else bad "dot-deep: $size bytes for $n units"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
