#!/usr/bin/env bash
# The monospace tables of the text outputs line up in display width (East
# Asian wide characters 2 columns, combining marks 0): tests/align.py on
# derive (and derive --expand), check, claims, symmetry and grad of every case.
# Usage: align.sh GRADPROOF REPO
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
repo=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LC_ALL=C
pass=0 fail=0
command -v python3 >/dev/null 2>&1 || { echo "SKIP: align: python3 is not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# the heuristics on made-up tables
python3 "$here/align.py" --self-test >"$tmp/self" 2>&1
set -- $(sed -n 's/^RESULT //p' "$tmp/self")
if [ $# -eq 4 ]; then pass=$((pass + $1)) fail=$((fail + $2)); grep -v '^RESULT ' "$tmp/self"
else echo "FAIL align: the self-test did not run"; cat "$tmp/self"; fail=$((fail+1)); fi

args=()
for case in "$repo"/cases/*.case; do
  name=$(basename "$case" .case)
  c=cases/$name.case
  # verb, accepted exit codes, arguments
  while read -r tag ok verb rest; do
    f=$tmp/$name.$tag.txt
    # shellcheck disable=SC2086
    (cd "$repo" && "$bin" $verb "$c" $rest) >"$f" 2>"$f.err"
    rc=$?
    case " ${ok//,/ } " in
      *" $rc "*) args+=(--label "gradproof $verb $c $rest" "$f") ;;
      *) echo "FAIL align: gradproof $verb $c $rest: exit $rc"; head -3 "$f.err"; fail=$((fail+1)) ;;
    esac
  done <<'EOF'
derive        0    derive
derive-expand 0    derive   --expand
check         0,1  check
claims        0,1  claims
symmetry      0,1  symmetry
grad          0    grad
EOF
done

python3 "$here/align.py" "${args[@]}" >"$tmp/out" 2>&1
set -- $(sed -n 's/^RESULT //p' "$tmp/out")
if [ $# -eq 4 ]; then
  pass=$((pass + $1)) fail=$((fail + $2))
  grep -v '^RESULT ' "$tmp/out"
  echo "align: $(( $1 + $2 )) outputs, $3 tables and $4 '=' blocks checked"
else
  echo "FAIL align: align.py did not finish"; cat "$tmp/out"; fail=$((fail+1))
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
