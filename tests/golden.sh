#!/usr/bin/env bash
# Golden-file tests: `gradproof derive` on every case in cases/, in every
# format, compared byte for byte with tests/golden/<case>.<fmt>.
# GP_UPDATE_GOLDEN=1 rewrites the golden files (review the diff like code).
# Usage: golden.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
export LC_ALL=C
pass=0 fail=0
gold=$repo/tests/golden
mkdir -p "$gold"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for case in "$repo"/cases/*.case; do
  name=$(basename "$case" .case)
  for fmt in text markdown latex json expand; do
    if [ "$fmt" = expand ]; then args=(--expand); ext=expand.txt; else args=(--format "$fmt"); ext=$fmt; fi
    # run from the repo so that file names in the output are relative
    (cd "$repo" && "$bin" derive "cases/$name.case" "${args[@]}") >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -ne 0 ]; then
      echo "FAIL golden $name.$ext: exit $rc"; cat "$tmp/err"; fail=$((fail+1)); continue
    fi
    if [ -s "$tmp/err" ]; then
      echo "FAIL golden $name.$ext: unexpected stderr"; cat "$tmp/err"; fail=$((fail+1)); continue
    fi
    if [ "${GP_UPDATE_GOLDEN:-}" = 1 ]; then cp "$tmp/out" "$gold/$name.$ext"; fi
    if cmp -s "$tmp/out" "$gold/$name.$ext"; then
      pass=$((pass+1))
    else
      echo "FAIL golden $name.$ext differs:"; diff "$gold/$name.$ext" "$tmp/out" | head -20; fail=$((fail+1))
    fi
  done
done
# the output does not depend on the locale
loc=$(locale -a 2>/dev/null | grep -iE '^(de_DE|fr_FR|ru_RU).*utf-?8$' | head -1)
if [ -n "$loc" ]; then
  for case in "$repo"/cases/*.case; do
    name=$(basename "$case" .case)
    (cd "$repo" && LC_ALL=$loc "$bin" derive "cases/$name.case" --format json) >"$tmp/out" 2>/dev/null
    if cmp -s "$tmp/out" "$gold/$name.json"; then pass=$((pass+1)); else echo "FAIL golden $name.json under $loc"; fail=$((fail+1)); fi
  done
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
