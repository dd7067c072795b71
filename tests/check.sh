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
grep -q "undefined there (log of a negative number in C, line 4)" "$tmp/out" && ok || bad log "no redraw reason with the definition and line"
# the fault is placed in the definition that holds it, not in the loss
cat >"$tmp/deflog.case" <<'CASE'
input x
target y
param a b
# the unit whose log fails half the time
h = log(a)*x
loss C = mean((h + b - y)^2)
CASE
expect deflog 0 "$bin" check "$tmp/deflog.case" --points 2
grep -q "undefined there (log of a negative number in h, line 5)" "$tmp/out" && ok || bad deflog "fault not placed in h, line 5: $(grep redrawn "$tmp/out")"
# a loss defined where its derivative is not (sqrt at 0): the at point is skipped, naming the place
cat >"$tmp/sqrt0.case" <<'CASE'
input x
target y
param w
h = sqrt(w^2 + x^2 - x^2)
loss C = mean((h - y)^2)
at w = 0
CASE
expect sqrt0 0 "$bin" check "$tmp/sqrt0.case" --points 2
grep -q "skipped: undefined there (division by zero in h, line 4)" "$tmp/out" && ok || bad sqrt0 "$(grep skipped "$tmp/out")"
# grad at such points: exit 1, and why
expect grad-sqrt0 1 "$bin" grad "$tmp/sqrt0.case"
grep -q "^not finite: undefined at this point (division by zero in h, line 4)$" "$tmp/out" && ok || bad grad-sqrt0 "$(sed -n 3p "$tmp/out")"
grep -q "^w  *0  *nan  *nan$" "$tmp/out" && ok || bad grad-sqrt0-nan "$(grep '^w ' "$tmp/out")"
expect grad-log 1 "$bin" grad "$tmp/deflog.case" --at 'a = -1, b = 0'
grep -q "^not finite: undefined at this point (log of a negative number in h, line 5)$" "$tmp/out" && ok || bad grad-log "$(sed -n 3p "$tmp/out")"
expect grad-log-json 1 "$bin" grad "$tmp/deflog.case" --at 'a = -1, b = 0' --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["finite"] is False and d["fault"] == "log of a negative number in h, line 5", d' "$tmp/out" && ok || bad grad-log-json "finite/fault"
expect grad-fine-json 0 "$bin" grad "$tmp/deflog.case" --at 'a = 1, b = 0' --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["finite"] is True and d["fault"] is None, d' "$tmp/out" && ok || bad grad-fine-json "finite/fault"
printf 'param w\nloss C = exp(1000*w)\nat w = 1\n' >"$tmp/over.case"
expect grad-overflow 1 "$bin" grad "$tmp/over.case"
grep -q "^not finite: the doubles overflow at this point (MPFR finds the loss and its derivatives defined)$" "$tmp/out" && ok || bad grad-overflow "$(sed -n 3p "$tmp/out")"
# ... and where no point is defined, the verdict is unknown: exit 1
sed 's/log(a)\*x/log(a*x)/' "$tmp/log.case" >"$tmp/log2.case"
expect log-unknown 1 "$bin" check "$tmp/log2.case" --points 2
grep -q "no point where the routes could be compared (unknown)" "$tmp/out" && ok || bad log-unknown "summary"
# a derivative below the double range is not a disagreement: the point is
# redrawn, and where every point has one the verdict is unknown
printf 'input x\ntarget y\nparam w\nloss C = 10^-400*mean((w*x - y)^2)\n' >"$tmp/under.case"
expect under-unknown 1 "$bin" check "$tmp/under.case" --points 2
grep -q "no point where the routes could be compared (unknown)" "$tmp/out" && ! grep -q DISAGREE "$tmp/out" &&
  grep -q "points redrawn: the double sweep overflowed or underflowed" "$tmp/out" && ok || bad under-unknown "$(cat "$tmp/out")"
printf 'input x\ntarget y\nparam w\nloss C = 10^-300*mean((w*x - y)^2)\n' >"$tmp/under2.case"
expect under-normal 0 "$bin" check "$tmp/under2.case" --points 2
grep -q "all three routes agree" "$tmp/out" && ok || bad under-normal "$(cat "$tmp/out")"

# an ill-conditioned point: a large cancellation in the residual.  The
# double gradient is far from the reference in ulps, and passes: its bound,
# shown, is as large as the condition says
cat >"$tmp/ill.case" <<'CASE'
input x
target y
param a b c
r = a*x + b*x - c
loss C = mean(r^2)
data
x y
1 0
3 1
end
at a = 100000000, b = -99999999.99999999, c = 1/3
CASE
expect illcond 0 "$bin" check "$tmp/ill.case" --points 1 --json &&
  python3 - "$tmp/out" <<'PY' && ok || bad illcond "bound not shown or not large"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] and d["at_points"] == 1
worst = max(d["params"], key=lambda p: p["backprop_ulp_err"])
assert worst["backprop_ulp_err"] > 1e3, worst          # far off in ulps...
assert worst["backprop_ulp_err"] <= worst["backprop_ulp_bound"]  # ...and within the bound
PY

# usage errors
expect usage-precision 2 "$bin" check "$repo/cases/tanh_mlp.case" --precision 10
expect usage-points 2 "$bin" check "$repo/cases/tanh_mlp.case" --points 0
expect usage-unknown 2 "$bin" grad "$repo/cases/tanh_mlp.case" --directional
expect help-check 0 "$bin" check --help
expect help-grad 0 "$bin" grad --help
expect grad-at-bad 2 "$bin" grad "$repo/cases/seed000_linear_221.case" --at 'w9 = 1'
grep -q "unknown param 'w9'" "$tmp/err" && ok || bad grad-at-bad "message"
# a fault in --at is placed in the option's value, not on a line past the file's end
expect grad-at-place 2 "$bin" grad "$repo/cases/seed000_linear_221.case" --at 'w111 = 1, w9 = 2'
[ "$(cat "$tmp/err")" = "gradproof: --at:1:11: error: unknown param 'w9'
  w111 = 1, w9 = 2
            ^^" ] && ok || bad grad-at-place "$(cat "$tmp/err")"
expect grad-at-place-json 2 "$bin" grad "$repo/cases/seed000_linear_221.case" --at 'w9 = 2' --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["diagnostics"][0]; assert (d["file"], d["line"], d["column"], d["end_column"]) == ("--at", 1, 1, 3), d' "$tmp/out" && ok || bad grad-at-place-json "$(cat "$tmp/out")"
expect grad-at 0 "$bin" grad "$repo/cases/seed000_linear_221.case" --at 'w111 = 1/2, w112 = 1, w121 = 1, w122 = 1, w211 = 1, w212 = 1' --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["params"]["w111"]==0.5 and d["point_from"]=="at (last)"' "$tmp/out" && ok || bad grad-at "point not used"

# verify: the engine's own gradients pass; one entry perturbed by one part
# in 10^6 fails, and exactly that entry
for c in "$repo"/cases/*.case; do
  n=$(basename "$c" .case)
  "$bin" grad "$c" --json >"$tmp/g.json"
  expect "verify-$n" 0 "$bin" verify "$c" --gradients "$tmp/g.json"
  for k in 0 1; do
    python3 - "$tmp/g.json" "$tmp/p.json" "$k" >"$tmp/which" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(p for p, v in d["gradient"].items() if v != 0)
p = names[(int(sys.argv[3]) * 7919) % len(names)]
d["gradient"][p] *= 1 + 1e-6
json.dump(d, open(sys.argv[2], "w"))
print(p)
PY
    expect "verify-perturbed-$n-$k" 1 "$bin" verify "$c" --gradients "$tmp/p.json" --json &&
      python3 - "$tmp/out" "$(cat "$tmp/which")" <<'PY' && ok || bad "verify-perturbed-$n-$k" "not exactly the perturbed entry"
import json, sys
d = json.load(open(sys.argv[1]))
wrong = [e["param"] for e in d["params"] if e["ok"] is False]
assert wrong == [sys.argv[2]], (wrong, sys.argv[2])
assert d["wrong"] == 1 and d["ok"] is False
PY
  done
done

# verify: several points, CSV, per-sample losses with "sample"
python3 - "$tmp/g.json" "$tmp/multi.json" "$tmp/multi.csv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))   # the last case's (tanh_mlp) point
pts = [{"params": d["params"], "gradient": d["gradient"]}, {"params": d["params"], "gradient": d["gradient"]}]
json.dump({"points": pts}, open(sys.argv[2], "w"))
with open(sys.argv[3], "w") as f:
    f.write("point,param,value,gradient\n")
    for i in (1, 2):
        for p in d["params"]:
            f.write(f"{i},{p},{d['params'][p]!r},{d['gradient'][p]!r}\n")
PY
expect verify-multi 0 "$bin" verify "$repo/cases/tanh_mlp.case" --gradients "$tmp/multi.json"
grep -q '58 entries at 2 points: all right' "$tmp/out" && ok || bad verify-multi "summary"
expect verify-csv 0 "$bin" verify "$repo/cases/tanh_mlp.case" --gradients "$tmp/multi.csv"
sed -i '5s/,\([-0-9.e]*\)$/,1e-3/' "$tmp/multi.csv"
expect verify-csv-wrong 1 "$bin" verify "$repo/cases/tanh_mlp.case" --gradients "$tmp/multi.csv"

# verify: malformed files are input errors with file:line:column
printf '{"points": [{"params": {"w9": 1}, "gradient": {}}]}' >"$tmp/bad1.json"
expect verify-unknown 2 "$bin" verify "$repo/cases/seed000_linear_221.case" --gradients "$tmp/bad1.json"
grep -q "bad1.json:1:25: error: unknown param 'w9'" "$tmp/err" && ok || bad verify-unknown "message: $(head -1 "$tmp/err")"
printf '{"points": [\n  {"params": {"w111": 1,}}]}' >"$tmp/bad2.json"
expect verify-syntax 2 "$bin" verify "$repo/cases/seed000_linear_221.case" --gradients "$tmp/bad2.json" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["diagnostics"][0]["line"]==2, d' "$tmp/out" && ok || bad verify-syntax "JSON diagnostics"
printf 'param,value,gradient\nw111,1,nan\n' >"$tmp/bad3.csv"
expect verify-nan 2 "$bin" verify "$repo/cases/seed000_linear_221.case" --gradients "$tmp/bad3.csv"
grep -q "bad3.csv:2:8: error: 'nan' is not a finite number" "$tmp/err" && ok || bad verify-nan "message: $(head -1 "$tmp/err")"
expect verify-missing-param 2 "$bin" verify "$repo/cases/seed000_linear_221.case" --gradients <(printf 'param,value,gradient\nw111,1,2\n')
grep -q "does not give the value of param 'w112'" "$tmp/err" && ok || bad verify-missing-param "message"
expect verify-nofile 2 "$bin" verify "$repo/cases/seed000_linear_221.case" --gradients "$tmp/none.json"
expect verify-noopt 2 "$bin" verify "$repo/cases/seed000_linear_221.case"
expect help-verify 0 "$bin" verify --help
"$bin" grad "$repo/cases/seed003_sigmoid_2331.case" --json >"$tmp/s.json"
python3 - "$tmp/s.json" "$tmp/s2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["sample"] = 8
json.dump(d, open(sys.argv[2], "w"))
PY
expect verify-sample-range 2 "$bin" verify "$repo/cases/seed003_sigmoid_2331.case" --gradients "$tmp/s2.json"
grep -q '"sample" must be a sample number from 0 to 7' "$tmp/err" && ok || bad verify-sample-range "message"

echo "check.sh: $pass passed, $fail failed"
[ $fail -eq 0 ]
