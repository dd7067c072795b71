#!/usr/bin/env bash
# The generated docs are current: regenerate them into a scratch directory
# and compare with what is committed.
# Usage: docs.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
if ! bash "$repo/tools/gendocs.sh" "$bin" "$tmp" >"$tmp/log" 2>&1; then
  echo "FAIL docs: tools/gendocs.sh failed"; cat "$tmp/log"; echo "0 passed, 1 failed"; exit 1
fi
for f in "$tmp"/derivatives/*.md; do
  name=$(basename "$f")
  if cmp -s "$f" "$repo/docs/derivatives/$name"; then pass=$((pass+1)); else
    echo "FAIL docs: docs/derivatives/$name is not current; run tools/gendocs.sh"; diff "$repo/docs/derivatives/$name" "$f" | head -10; fail=$((fail+1))
  fi
done
for f in "$repo"/docs/derivatives/*.md; do
  [ -e "$tmp/derivatives/$(basename "$f")" ] || { echo "FAIL docs: stale $(basename "$f")"; fail=$((fail+1)); }
done
for f in "$tmp"/reports/*.md; do
  name=$(basename "$f")
  if cmp -s "$f" "$repo/docs/reports/$name"; then pass=$((pass+1)); else
    echo "FAIL docs: docs/reports/$name is not current; run tools/gendocs.sh"; diff "$repo/docs/reports/$name" "$f" | head -10; fail=$((fail+1))
  fi
done
for f in "$repo"/docs/reports/*.md; do
  [ -e "$tmp/reports/$(basename "$f")" ] || { echo "FAIL docs: stale reports/$(basename "$f")"; fail=$((fail+1)); }
done
# every report's picture is there
for f in "$repo"/docs/reports/*.md; do
  for pic in $(sed -n 's/^!\[[^]]*\](\([^)]*\))$/\1/p' "$f"); do
    if [ -s "$repo/docs/reports/$pic" ]; then pass=$((pass+1)); else
      echo "FAIL docs: $(basename "$f") links $pic, which is missing"; fail=$((fail+1))
    fi
  done
done
# the output pasted into the README is what the commands print now
if python3 "$repo/tests/readme.py" "$bin" "$repo"; then pass=$((pass+1)); else fail=$((fail+1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
