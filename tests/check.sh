#!/usr/bin/env bash
# check, grad and verify through the CLI: exit codes, JSON that parses, the
# verdicts on every case, determinism, and a planted engine bug caught.
# Usage: check.sh GRADPROOF REPO   (gradproof_mutant is looked for next to GRADPROOF)
set -u
bin=$1 repo=$2
mutant=$(dirname "$bin")/gradproof_mutant
export LC_ALL=C.UTF-8
pass=0 fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass+1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail+1)); }
# expect ID WANT-EXIT CMD... : stdout in $tmp/out, stderr in $tmp/err
expect() {
  local id=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ $rc -ne "$want" ]; then bad "$id" "exit $rc, wanted $want ($*)"; sed 's/^/  | /' "$tmp/err" | head -5; return 1; fi
  ok; return 0
}
json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }

# every case: the three routes agree (text and JSON), the JSON parses and says so
for c in "$repo"/cases/*.case; do
  n=$(basename "$c" .case)
  expect "check-$n" 0 "$bin" check "$c" --points 2 && {
    grep -q 'all three routes agree' "$tmp/out" && ok || bad "check-$n" "no agreement line"; }
  expect "check-json-$n" 0 "$bin" check "$c" --points 2 --json && {
    python3 - "$tmp/out" <<'PY' && ok || bad "check-json-$n" "JSON wrong"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["points"] == 2 and d["precision_bits"] == 256
assert d["params"] and all(p["ok"] for p in d["params"])
for p in d["params"]:
    for k in ("param", "symbolic", "finite_difference", "backprop", "fd_rel_err", "backprop_ulp_err"):
        assert k in p, k
    assert p["backprop_ulp_err"] <= p["backprop_ulp_bound"]
    assert float(p["symbolic"]) == float(p["symbolic"])
assert d["diagnostics"] == []
PY
  }
  expect "grad-$n" 0 "$bin" grad "$c" --json && { json_ok "$tmp/out" && ok || bad "grad-json-$n" "JSON does not parse"; }
done

# directional: O(1) evaluations per direction, and the same verdict
expect directional 0 "$bin" check "$repo/cases/tanh_mlp.case" --directional --directions 3 --json &&
  python3 - "$tmp/out" <<'PY' && ok || bad directional "JSON wrong"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] and d["directional"] and len(d["params"]) == 12, len(d["params"])
assert all("direction" in p for p in d["params"])
PY

# determinism: same case and seed, byte-identical output; another seed, other points
"$bin" check "$repo/cases/seed003_sigmoid_2331.case" --seed 7 >"$tmp/a" 2>&1
"$bin" check "$repo/cases/seed003_sigmoid_2331.case" --seed 7 >"$tmp/b" 2>&1
"$bin" check "$repo/cases/seed003_sigmoid_2331.case" --seed 8 >"$tmp/c" 2>&1
cmp -s "$tmp/a" "$tmp/b" && ok || bad determinism "two runs with --seed 7 differ"
cmp -s "$tmp/a" "$tmp/c" && bad seed "--seed 8 gave the same output as --seed 7" || ok

# higher precision: the differences follow
expect precision 0 "$bin" check "$repo/cases/softmax_ce.case" --points 1 --precision 512 --json &&
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["precision_bits"]==512 and d["fd_max_precision_bits"]>=512' "$tmp/out" && ok || bad precision "512 bits not used"

# the planted bug: tanh' with its sign flipped.  Exactly the params whose
# paths cross one tanh' (W2, b2: one flip) disagree; W1 and b1 cross two
# (the flips cancel) and v, b3 none: they agree.
if [ -x "$mutant" ]; then
  expect mutant 1 "$mutant" check "$repo/cases/tanh_mlp.case" --json &&
    python3 - "$tmp/out" <<'PY' && ok || bad mutant "wrong set of weights named"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is False
badp = sorted(p["param"] for p in d["params"] if not p["ok"])
want = sorted([f"W2[{m}][{k}]" for m in (1, 2) for k in range(1, 5)] + ["b2[1]", "b2[2]"])
assert badp == want, (badp, want)
assert all(not p["backprop_ok"] and p["finite_difference_ok"] for p in d["params"] if not p["ok"])
PY
  expect mutant-text 1 "$mutant" check "$repo/cases/tanh_mlp.case"
  grep -q 'the routes disagree on 10 weights' "$tmp/out" && ok || bad mutant-text "summary line"
  expect mutant-sigmoid 0 "$mutant" check "$repo/cases/seed003_sigmoid_2331.case" --points 1
else
  bad mutant "$mutant not built"
fi

# a kink at the point: redrawn, and said
cat >"$tmp/kink.case" <<'CASE'
input x
target y
param a b
h = relu(a*x + b)
loss C = mean((h - y)^2)
data
x y
1 2
-1 0
end
at a = 1, b = -1
CASE
expect kink 0 "$bin" check "$tmp/kink.case" --points 3
grep -q "skipped" "$tmp/out" && grep -q "kink" "$tmp/out" && ok || bad kink "the at point on the kink is not reported"

# an undefined point is redrawn (log(a) for a < 0, half the draws)
cat >"$tmp/log.case" <<'CASE'
input x
target y
param a
loss C = mean((log(a)*x - y)^2)
CASE
expect log 0 "$bin" check "$tmp/log.case" --points 3
grep -q "undefined there (log of a negative number" "$tmp/out" && ok || bad log "no redraw reason"
# ... and where no point is defined, the verdict is unknown: exit 1
sed 's/log(a)\*x/log(a*x)/' "$tmp/log.case" >"$tmp/log2.case"
expect log-unknown 1 "$bin" check "$tmp/log2.case" --points 2
grep -q "no point where the routes could be compared (unknown)" "$tmp/out" && ok || bad log-unknown "summary"

# usage errors
expect usage-precision 2 "$bin" check "$repo/cases/tanh_mlp.case" --precision 10
expect usage-points 2 "$bin" check "$repo/cases/tanh_mlp.case" --points 0
expect usage-unknown 2 "$bin" grad "$repo/cases/tanh_mlp.case" --directional
expect help-check 0 "$bin" check --help
expect help-grad 0 "$bin" grad --help
expect grad-at-bad 2 "$bin" grad "$repo/cases/seed000_linear_221.case" --at 'w9 = 1'
grep -q "unknown param 'w9'" "$tmp/err" && ok || bad grad-at-bad "message"
expect grad-at 0 "$bin" grad "$repo/cases/seed000_linear_221.case" --at 'w111 = 1/2, w112 = 1, w121 = 1, w122 = 1, w211 = 1, w212 = 1' --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["params"]["w111"]==0.5 and d["point_from"]=="at (last)"' "$tmp/out" && ok || bad grad-at "point not used"

echo "check.sh: $pass passed, $fail failed"
[ $fail -eq 0 ]
