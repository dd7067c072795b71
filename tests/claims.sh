#!/usr/bin/env bash
# `gradproof claims` on every case in cases/: each claim must be judged as
# its `# expect:` comment says (holds / fails), and where the expectation
# names a "sign error" the diagnosis must say so.  Also: the exit status
# (1 when a claim fails, 0 when all hold), one JSON document with --json
# (checked with python3 when present), the same verdicts in JSON, usage
# errors (exit 2).
# Golden files: the text and --json output of every case, run from the repo
# root, byte for byte against tests/golden/NAME.claims.txt and
# NAME.claims.json (GP_UPDATE_GOLDEN=1 rewrites them), and the same bytes on
# a second run.
# The corpus (tests/claims_corpus/*.case): every claim's verdict, the
# keyword after `# expect: fails:` found in its diagnosis, and no wrong claim
# ever reported as holding.
# Usage: claims.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
export LC_ALL=C
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { echo "FAIL $*"; fail=$((fail+1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for case in "$repo"/cases/*.case; do
  name=$(basename "$case" .case)
  (cd "$repo" && "$bin" claims "cases/$name.case") >"$tmp/out" 2>"$tmp/err"
  rc=$?
  # expectations: LINE holds|fails SIGN(0/1)
  awk '/^[ \t]*claim[ \t]/ && /# expect:/ {
         e = $0; sub(/.*# expect:[ \t]*/, "", e)
         v = (e ~ /^holds/) ? "holds" : (e ~ /^fails/) ? "fails" : "?"
         s = (e ~ /sign error/) ? 1 : 0
         print NR, v, s }' "$case" >"$tmp/exp"
  # verdicts: LINE VERDICT DIAGNOSIS...
  awk '/^line [0-9]+ / { if (n) print n, v, d; n = $2; v = $3; d = "-"; next }
       /^    diagnosis: / { d = $0; sub(/^    diagnosis: /, "", d); gsub(/ /, "_", d); next }
       END { if (n) print n, v, d }' "$tmp/out" >"$tmp/got"
  nexp=$(wc -l <"$tmp/exp"); ngot=$(wc -l <"$tmp/got")
  nclaims=$(grep -cE '^[ \t]*claim[ \t]' "$case")
  if [ "$nexp" -ne "$nclaims" ]; then bad "$name: $nclaims claims but $nexp '# expect:' comments"; fi
  if [ "$ngot" -ne "$nclaims" ]; then bad "$name: $nclaims claims but $ngot verdicts"; cat "$tmp/err"; continue; fi
  # compare: one awk over both lists (prints PASS or FAIL lines)
  awk -v name="$name" 'NR == FNR { got[$1] = $2; dg[$1] = $3; next }
       { want = $2; g = got[$1]
         if (g != want) { print "FAIL " name ":" $1 ": expected " want ", got " (g == "" ? "nothing" : g); next }
         if ($3 == 1 && dg[$1] !~ /sign/) { print "FAIL " name ":" $1 ": expected a sign error in the diagnosis, got \x27" dg[$1] "\x27"; next }
         print "PASS" }' "$tmp/got" "$tmp/exp" >"$tmp/cmp"
  pass=$((pass + $(grep -c '^PASS' "$tmp/cmp")))
  nbad=$(grep -c '^FAIL' "$tmp/cmp"); fail=$((fail + nbad)); grep '^FAIL' "$tmp/cmp"
  anyfail=0; grep -q ' fails ' "$tmp/exp" && anyfail=1
  if [ $rc -eq $anyfail ]; then ok; else bad "$name: exit $rc, expected $anyfail"; fi
  if [ -s "$tmp/err" ]; then bad "$name: unexpected stderr"; cat "$tmp/err"; fi
  # JSON: one document, same verdicts
  (cd "$repo" && "$bin" claims "cases/$name.case" --json) >"$tmp/json" 2>/dev/null
  jrc=$?
  if [ $jrc -ne $rc ]; then bad "$name: --json exit $jrc, text exit $rc"; fi
  cp "$tmp/json" "$tmp/$name.json"; cp "$tmp/got" "$tmp/$name.got"
  # golden files, and the same bytes twice
  (cd "$repo" && "$bin" claims "cases/$name.case") >"$tmp/out2" 2>/dev/null
  (cd "$repo" && "$bin" claims "cases/$name.case" --json) >"$tmp/json2" 2>/dev/null
  cmp -s "$tmp/out" "$tmp/out2" && cmp -s "$tmp/json" "$tmp/json2" && ok || bad "$name: output differs between two runs"
  for ext in txt json; do
    g="$repo/tests/golden/$name.claims.$ext"
    if [ $ext = txt ]; then f="$tmp/out"; else f="$tmp/json"; fi
    if [ "${GP_UPDATE_GOLDEN:-0}" = 1 ]; then cp "$f" "$g"; ok
    elif [ ! -f "$g" ]; then bad "$name: no golden file tests/golden/$name.claims.$ext"
    elif cmp -s "$f" "$g"; then ok
    else bad "$name: claims output differs from tests/golden/$name.claims.$ext"; diff "$g" "$f" | head -20; fi
  done
done

# the JSON documents: well formed, the same verdicts as the text (python3, once)
if command -v python3 >/dev/null; then
  python3 - "$tmp" >"$tmp/py" <<'PY'
import glob, json, os, sys
for jf in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    name = os.path.basename(jf)[:-5]
    try:
        d = json.load(open(jf))
        got = {int(l.split()[0]): l.split()[1] for l in open(jf[:-5] + ".got")}
        js = {c["line"]: c["verdict"] for c in d["claims"]}
        assert js == got, "verdicts differ from the text output"
        for c in d["claims"]:
            assert c["method"] in ("exact", "numeric"), c
            if c["verdict"] == "fails":
                cx = c["counterexample"]
                assert cx and "point" in cx and cx["claimed"] != cx["actual"], c
            else:
                assert c["counterexample"] is None, c
        assert d["ok"] == all(c["verdict"] == "holds" for c in d["claims"])
        assert isinstance(d["diagnostics"], list)
        print("PASS", name)
    except Exception as e:
        print("FAIL", name, "json:", e)
PY
  pass=$((pass + $(grep -c '^PASS' "$tmp/py")))
  nbad=$(grep -c '^FAIL' "$tmp/py"); fail=$((fail + nbad)); grep '^FAIL' "$tmp/py"
fi

# the corpus: verdicts, diagnosis keywords, and never a false pass
nc=0 nw=0 fp=0
for case in "$repo"/tests/claims_corpus/*.case; do
  [ -f "$case" ] || continue
  name=corpus/$(basename "$case" .case)
  "$bin" claims "$case" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ -s "$tmp/err" ]; then bad "$name: unexpected stderr"; cat "$tmp/err"; fi
  # expectations: LINE<TAB>holds|fails<TAB>KEYWORD (or empty)
  awk '/^[ \t]*claim[ \t]/ {
         if ($0 !~ /# expect:/) { print NR "\t?\t"; next }
         e = $0; sub(/.*# expect:[ \t]*/, "", e); sub(/[ \t]+$/, "", e)
         if (e ~ /^holds$/) { print NR "\tholds\t"; next }
         if (e ~ /^fails$/) { print NR "\tfails\t"; next }
         if (e ~ /^fails:/) { k = e; sub(/^fails:[ \t]*/, "", k); print NR "\tfails\t" k; next }
         print NR "\t?\t" }' "$case" >"$tmp/exp"
  # verdicts: LINE<TAB>VERDICT<TAB>DIAGNOSIS
  awk '/^line [0-9]+ / { if (n) print n "\t" v "\t" d; n = $2; v = $3; d = ""; next }
       /^    diagnosis: / { d = $0; sub(/^    diagnosis: /, "", d); next }
       END { if (n) print n "\t" v "\t" d }' "$tmp/out" >"$tmp/got"
  awk -F'\t' -v name="$name" 'NR == FNR { got[$1] = $2; dg[$1] = $3; next }
       { nc++; want = $2; g = got[$1]
         if (want == "?") { print "FAIL " name ":" $1 ": no well-formed # expect: comment"; next }
         if (want == "fails") nw++
         if (want == "fails" && g == "holds") { fp++; print "FAIL " name ":" $1 ": FALSE PASS, a wrong claim reported as holding"; next }
         if (g != want) { print "FAIL " name ":" $1 ": expected " want ", got " (g == "" ? "nothing" : g); next }
         if ($3 != "" && index(dg[$1], $3) == 0) { print "FAIL " name ":" $1 ": expected \x27" $3 "\x27 in the diagnosis, got \x27" dg[$1] "\x27"; next }
         print "PASS" }
       END { print "COUNT", nc, nw, fp }' "$tmp/got" "$tmp/exp" >"$tmp/cmp"
  pass=$((pass + $(grep -c '^PASS' "$tmp/cmp")))
  nbad=$(grep -c '^FAIL' "$tmp/cmp"); fail=$((fail + nbad)); grep '^FAIL' "$tmp/cmp"
  read -r _ c w f < <(grep '^COUNT' "$tmp/cmp")
  nc=$((nc + c)); nw=$((nw + w)); fp=$((fp + f))
  anyfail=0; grep -q "$(printf '\tfails')" "$tmp/exp" && anyfail=1
  if [ $rc -eq $anyfail ]; then ok; else bad "$name: exit $rc, expected $anyfail"; fi
  if [ "$(grep -c '^line [0-9]' "$tmp/out")" -ne "$(wc -l <"$tmp/exp")" ]; then bad "$name: not one verdict per claim"; fi
done
echo "corpus: $nc claims, $nw expected to fail, $fp false passes"
if [ $nc -lt 40 ]; then bad "corpus: only $nc claims (at least 40)"; fi
if [ $fp -ne 0 ]; then bad "corpus: $fp false passes"; fi

# usage
"$bin" claims >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "claims without a case: exit not 2"
"$bin" claims "$repo/cases/linreg.case" --bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "unknown option: exit not 2"
"$bin" claims "$repo/cases/linreg.case" --points 0 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--points 0: exit not 2"
"$bin" claims --help | grep -q '^usage: gradproof claims' && ok || bad "claims --help"
# a case whose claims all hold exits 0; bad input exits 2 with a JSON document
printf 'input x\ntarget y\nparam w\nloss C = mean((w*x - y)^2)/2\nclaim dC/dw = mean((w*x - y)*x)\n' >"$tmp/good.case"
"$bin" claims "$tmp/good.case" >"$tmp/out" 2>&1; [ $? -eq 0 ] && grep -q '^1 claim: 1 holds, 0 fail' "$tmp/out" && ok || { bad "all-hold case"; cat "$tmp/out"; }
printf 'input x\nparam w\nloss C = w*x\nclaim dC/dw = u\n' >"$tmp/bad.case"
"$bin" claims "$tmp/bad.case" --json >"$tmp/out" 2>/dev/null; rc=$?
[ $rc -eq 2 ] && grep -q '"diagnostics"' "$tmp/out" && ok || bad "bad case: exit $rc"
# the seed changes the random points, not the verdicts
a=$("$bin" claims "$repo/cases/seed003_sigmoid_2331.case" --seed 7 | grep -c ' fails ')
b=$("$bin" claims "$repo/cases/seed003_sigmoid_2331.case" | grep -c ' fails ')
[ "$a" = "$b" ] && ok || bad "seed 7 gives $a failures, default $b"

# a claim that can be evaluated nowhere is unknown (exit 1), and the reason
# names the first failure and its place: the claim itself, or a definition
printf 'param w\nloss C = w^2\nclaim dC/dw = 2*w + tanh(sqrt(-1 - w^2))\n' >"$tmp/nowhere.case"
"$bin" claims "$tmp/nowhere.case" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q '^line 3    unknown' "$tmp/out" &&
  grep -q 'no point where both sides could be evaluated (0 of 24 after 192 draws); the first failure: square root of a negative number in the claim, line 3$' "$tmp/out" && ok ||
  { bad "unknown claim: exit $rc"; cat "$tmp/out"; }
printf 'input x\ntarget y\nparam w\nh = sqrt(w - 3)\nloss C = mean((h*x - y)^2)\nclaim dC/dw = mean((h*x - y)*x/h)\n' >"$tmp/nowhere2.case"
"$bin" claims "$tmp/nowhere2.case" --json >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["claims"][0]; assert c["verdict"]=="unknown" and c["reason"].endswith("the first failure: square root of a negative number in h, line 4"), c' "$tmp/out" && ok ||
  { bad "unknown claim in JSON: exit $rc"; head -c 1500 "$tmp/out"; }

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
