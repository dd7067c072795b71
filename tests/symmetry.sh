#!/usr/bin/env bash
# `gradproof symmetry`: the seeds' figures, the JSON of DESIGN.md §4 on every
# case, --clamp, determinism, usage and exit codes.
# Usage: symmetry.sh GRADPROOF REPO
#
# The figures, derived by hand:
#  seed 000 (2-2-1 linear, no biases): yhat = c.x with c = W2 W1, a row of
#    length 2 that sweeps an open set: generic rank 2 of P = 6.  The hidden
#    layer's GL(2) mixing (W1 -> A W1, W2 -> W2 A^-1) gives 4 fields; with the
#    2 rescalings between layers counted among them the solver finds 6 fields
#    in all (2 shears from each side, 2 per-unit rescalings), and the
#    symmetric part of gl(2) gives the 3 entries of W1 W1' - W2' W2 as
#    conserved quantities.  The graph swaps the two hidden units (order 2);
#    no two gradients are equal as functions (dC/dw111 = w211 * mean(r x1),
#    dC/dw121 = w212 * mean(r x1) differ wherever w211 != w212).
#  seed 000 on collinear data (tests/symmetry_cases/seed000_collinear_data):
#    every row has x2 = 7/3 x1, so yhat = x1 (c1 + 7/3 c2): data rank 1 and
#    the relation 7 x1 - 3 x2 = 0 on the data only.
#  seed 000 with a single input x (x1 = 3/10 x, x2 = 7/10 x): generic rank 1
#    and dC/dw112 = (7/3) dC/dw111 as functions.
#  seed 001 (quadratic 2-2-1): the output is a quadratic polynomial in x1, x2
#    with 6 coefficients, but unit 1 is linear and unit 2 squared: the
#    coefficients are c1 + w201-style sums in which (w1[0][1], w2[1][1]),
#    ... give 5 independent functions: rank 5 of 8, so 3 redundant
#    directions; the rescalings t, 1/t (linear unit) and t, 1/t^2 (squared
#    unit).  The seed's clamp set {w1[0][2], w2[1][1], w2[2][1]} keeps rank 5
#    for generic values and loses it at 0; w2[2][1] can only be rescaled by
#    t^2 > 0, so its sign is locked.
#  seed 002 (2-2-1 linear with biases): one affine layer, 3 coefficients:
#    rank 3 of 9, and the effective model is affine.
#  seed 003 (2-3-3-1 sigmoid, no biases): full rank 18, the group S3 x S3 of
#    order 36; on data with x2 = 2 x1 (tests/symmetry_cases/seed003_collinear)
#    each first-layer unit sees only p1 + 2 p2: data rank 15 (see that file).
set -u
bin=$1 repo=$2
export LC_ALL=C
pass=0 fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ok()  { pass=$((pass+1)); }
bad() { echo "FAIL symmetry: $*"; fail=$((fail+1)); }

# run NAME EXPECTED_RC ARGS...: output in $tmp/out, stderr in $tmp/err
run() {
  local want=$1; shift
  (cd "$repo" && "$bin" symmetry "$@") >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -ne "$want" ]; then bad "symmetry $* exited $rc, expected $want"; head -5 "$tmp/err"; return 1; fi
  return 0
}

# jcheck CASE ARGS... -- PYTHON: evaluate a Python assertion on the JSON (as d)
jcheck() {
  local what=$1 expr=$2
  if python3 - "$tmp/out" "$expr" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval("(" + sys.argv[2] + ")")
sys.exit(0 if ok else 1)
EOF
  then ok; else bad "$what: $expr"; python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print({k: d[k] for k in ("params","rank","permutation_group") if k in d})' "$tmp/out"; fi
}

# 1. every case: one JSON document with the fields of DESIGN.md §4, and text
for case in "$repo"/cases/*.case "$repo"/tests/symmetry_cases/*.case; do
  rel=${case#"$repo"/}
  if run 0 "$rel" --json; then
    jcheck "$rel fields" '
isinstance(d["params"], int) and isinstance(d["rank"]["generic"], int)
and (d["rank"]["data"] is None or isinstance(d["rank"]["data"], int))
and 0 <= d["rank"]["generic"] <= d["params"]
and isinstance(d["clamp"], list) and len(d["clamp"]) == d["params"] - d["rank"]["generic"]
and all(isinstance(p, list) and len(p) == 2 for p in d["equal_gradients"])
and isinstance(d["permutation_group"]["order"], (int, float)) and isinstance(d["permutation_group"]["generators"], list)
and isinstance(d["null_space"], list) and isinstance(d["linear_symmetries"], list)
and isinstance(d["sign_flips"], list) and all(isinstance(c, str) for c in d["conserved"])
and (d["effective_model"] is None or isinstance(d["effective_model"], dict))
and all(isinstance(c, str) for c in d["input_dependencies"])
and d["method"]["route"] in ("exact", "numeric") and d["diagnostics"] == []'
  fi
  if run 0 "$rel"; then
    if grep -q "^rank: " "$tmp/out" && grep -q "^method: " "$tmp/out"; then ok; else bad "$rel: text report lacks rank or method"; fi
  fi
done

# 2. the seeds' figures
if run 0 cases/seed000_linear_221.case --json; then
  jcheck seed000 'd["params"] == 6 and d["rank"]["generic"] == 2 and d["rank"]["data"] is None'
  jcheck seed000 'd["permutation_group"]["order"] == 2 and len(d["permutation_group"]["generators"]) == 1'
  # a generator is the list of its moves [from, to]
  jcheck seed000 'sorted(map(tuple, d["permutation_group"]["generators"][0])) == sorted([("w111", "w121"), ("w121", "w111"), ("w112", "w122"), ("w122", "w112"), ("w211", "w212"), ("w212", "w211")])'
  jcheck seed000 'd["equal_gradients"] == [] and len(d["linear_symmetries"]) == 6 and len(d["sign_flips"]) == 2'
  jcheck seed000 'sorted(d["conserved"]) == sorted(["w111^2 + w112^2 - w211^2", "w111*w121 + w112*w122 - w211*w212", "w121^2 + w122^2 - w212^2"])'
  jcheck seed000 'd["effective_model"]["coefficients"] == 2'
fi
if run 0 tests/symmetry_cases/seed000_collinear_data.case --json; then
  jcheck seed000-collinear-data 'd["rank"]["generic"] == 2 and d["rank"]["data"] == 1'
  jcheck seed000-collinear-data 'd["input_dependencies"] == ["7*x1 - 3*x2 = 0"] and d["input_dependencies_on_data_only"] == [True]'
fi
if run 0 cases/seed000_collinear.case --json; then
  jcheck seed000-collinear 'd["params"] == 6 and d["rank"]["generic"] == 1'
  jcheck seed000-collinear 'any(p["ratio"] in ("7/3", "3/7") for p in d["proportional_gradients"])'
fi
if run 0 cases/seed001_quadratic.case --json --clamp 'w1[0][2],w2[1][1],w2[2][1]'; then
  jcheck seed001 'd["params"] == 8 and d["rank"]["generic"] == 5 and d["redundant"] == 3'
  jcheck seed001 'd["clamp_check"]["valid"] is True and d["clamp_check"]["rank"] == 5'
  jcheck seed001 '"0" in d["clamp_check"]["breaking_values"] and d["clamp_check"]["sign_locked"] == ["w2[2][1]"]'
  jcheck seed001 'd["effective_model"]["degree"] == 2 and d["effective_model"]["coefficients"] == 6'
  jcheck seed001 'len(d["conserved"]) == 2 and "w1[0][2]^2 + w1[1][2]^2 + w1[2][2]^2 - 2*w2[2][1]^2" in d["conserved"]'
fi
# a clamp set that is not valid: the three first-layer weights into unit 1
# leave unit 1 with only its output weight, so the rank drops: exit 1
run 1 cases/seed001_quadratic.case --clamp 'w1[0][1],w1[1][1],w1[2][1]' && { grep -q "proposed clamp: not valid" "$tmp/out" && ok || bad "invalid clamp not said"; }
run 2 cases/seed001_quadratic.case --clamp 'w1[0][1],nope' && { grep -q "'nope' is not a param" "$tmp/err" && ok || bad "unknown clamp name not named"; }
run 2 cases/seed001_quadratic.case --clamp 'w1[0][1],w1[0][1]' && { grep -q "named twice" "$tmp/err" && ok || bad "a name given twice not said"; }
run 2 cases/seed001_quadratic.case --clamp && ok
if run 0 cases/seed002_linear_net.case --json; then
  jcheck seed002 'd["params"] == 9 and d["rank"]["generic"] == 3'
  jcheck seed002 'd["effective_model"]["degree"] == 1 and d["effective_model"]["coefficients"] == 3 and "affine" in d["effective_model"]["summary"]'
fi
if run 0 cases/seed003_sigmoid_2331.case --json; then
  jcheck seed003 'd["params"] == 18 and d["rank"]["generic"] == 18 and d["clamp"] == []'
  jcheck seed003 'd["permutation_group"]["order"] == 36 and d["permutation_group"]["verified"] is True'
  jcheck seed003 'd["method"]["route"] == "numeric" and d["effective_model"] is None and d["linear_symmetries"] == []'
fi
if run 0 tests/symmetry_cases/seed003_collinear.case --json; then
  jcheck seed003-collinear 'd["rank"]["generic"] == 18 and d["rank"]["data"] == 15'
  jcheck seed003-collinear 'd["input_dependencies"] == ["2*x1 - x2 = 0"]'
fi

# 3. determinism: the same seed gives the same report; another seed the same figures
run 0 cases/tanh_mlp.case --json && cp "$tmp/out" "$tmp/a"
run 0 cases/tanh_mlp.case --json && { cmp -s "$tmp/out" "$tmp/a" && ok || bad "two runs differ"; }
run 0 cases/tanh_mlp.case --json --seed 12345 && cp "$tmp/out" "$tmp/b"
python3 - "$tmp/a" "$tmp/b" <<'EOF' && ok || bad "another seed changes the figures"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
key = lambda d: (d["params"], d["rank"], d["permutation_group"]["order"], len(d["linear_symmetries"]), len(d["sign_flips"]), len(d["conserved"]))
sys.exit(0 if key(a) == key(b) else 1)
EOF

# 4. standard input, usage, help
(cd "$repo" && "$bin" symmetry - <cases/seed000_linear_221.case) >"$tmp/out" 2>&1 && grep -q "^rank: 2 of 6" "$tmp/out" && ok || bad "case from standard input"
run 0 --help && { grep -q "usage: gradproof symmetry" "$tmp/out" && ok || bad "--help text"; }
run 2 && ok
run 2 cases/seed000_linear_221.case --bogus && { grep -q "unknown option" "$tmp/err" && ok || bad "unknown option not said"; }
run 2 cases/seed000_linear_221.case --seed x && ok
run 2 cases/does-not-exist.case && ok
printf 'input x\nparam w\nloss C = w*\n' >"$tmp/bad.case"
(cd "$repo" && "$bin" symmetry "$tmp/bad.case") >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad.case:3:" "$tmp/err" && ok || bad "a malformed case: exit $rc, expected 2 with file:line"
run 2 cases/seed000_linear_221.case --json --clamp nope && { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["diagnostics"] else 1)' "$tmp/out" && ok || bad "--json failure is not one JSON document with diagnostics"; }

# a network defined nowhere the analysis looks: unknown, exit 1, with the
# first failure and its place (text, JSON, and the report's section)
printf 'input x\ntarget y\nparam w\nh = sqrt(w - 3)\nloss C = mean((h*x - y)^2)\n' >"$tmp/nowhere.case"
run 1 "$tmp/nowhere.case" && grep -q "^1 params: unknown: no point where the network and its derivatives are defined (16 random draws); the first failure: square root of a negative number in h, line 4$" "$tmp/out" && ok || bad "undefined network: $(cat "$tmp/out")"
run 1 "$tmp/nowhere.case" --json && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["unknown"].endswith("in h, line 4") and d["params"] == 1, d' "$tmp/out" && ok || bad "undefined network in JSON"
run 0 cases/seed000_linear_221.case --json && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["unknown"] is None' "$tmp/out" && ok || bad "unknown is not null on seed000"
"$bin" report "$tmp/nowhere.case" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^Unknown: no point where the network and its derivatives are defined" "$tmp/out" && ok || bad "report of an undefined network: exit $rc"

# an ill-conditioned numeric rank (a 1-20-1 tanh net: the singular values
# show a gap of about 10 bits at 256 bits) is not taken as a fact: the rank
# is marked uncertain, a proposed clamp set is undecided (exit 1), never valid
{ printf 'input x1\ntarget y\nparam a[1..20] b[1..20] c[1..20]\n'
  printf 'h[k] = tanh(a[k]*x1 + b[k]) for k in 1..20\nyhat = sum(k = 1..20, c[k]*h[k])\noutput yhat\nloss C = mean((yhat - y)^2)\n'; } >"$tmp/mlp20.case"
run 1 "$tmp/mlp20.case" --clamp 'c[20]' && grep -q "^rank: [0-9]* of 60 (generic), UNCERTAIN" "$tmp/out" && grep -q "^proposed clamp: undecided" "$tmp/out" && ok || bad "uncertain rank: $(grep -E '^(rank|proposed)' "$tmp/out")"
run 1 "$tmp/mlp20.case" --clamp 'c[20]' --json && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rank"]["uncertain"] is True and d["clamp_check"]["valid"] is False, (d["rank"], d.get("clamp_check"))' "$tmp/out" && ok || bad "uncertain rank in JSON"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
