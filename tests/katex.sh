#!/usr/bin/env bash
# Every LaTeX formula gradproof writes renders with a real renderer: KaTeX,
# strictly ({throwOnError: true, strict: "error"}), installed from npm at a
# pinned version into a cache in the build tree on the first run.
#
# Formulas, for every case in cases/ (tests/katex/extract.js finds them):
#   derive --format json         every "latex" field
#   derive --format latex        the align* block (math spans, math environments)
#   derive --format markdown     every $…$ / $$…$$ (not in code spans or code blocks)
#   the same three with --expand
#   check, claims, symmetry --json: every "latex" field (none today)
#   report --format markdown     every $…$ / $$…$$
#   report --format latex --fragment: every math span and math environment
#   report --format json         every "latex" field, anywhere
# and report --format latex, the complete document, compiled with pdflatex or
# lualatex where a TeX installation exists (skipped, said, where none does).
#
# Without node, or npm where KaTeX is not cached yet, or when the install
# fails (offline), it says SKIP and exits 77, ctest's SKIP_RETURN_CODE.
# Usage: katex.sh GRADPROOF REPO
# Environment: GP_KATEX_CACHE  the cache directory (default: beside GRADPROOF)
#              GP_KEEP_OUTPUTS=1  keep the scratch directory and say where
set -u
# ---------------------------------------------------------------------------
# `gradproof report` is being written: until it exists it exits 3 with no
# output, and its documents are skipped (said). Set to 1 to make that a failure.
REPORT_REQUIRED=0
# ---------------------------------------------------------------------------
KATEX_VERSION=0.16.47
start=$(date +%s)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
repo=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
validate=$here/katex/validate.js
export LC_ALL=C
pass=0 fail=0 skip=0

skip_all() { echo "SKIP: katex: $*"; exit 77; }

# ---------------------------------------------------------------- KaTeX
command -v node >/dev/null 2>&1 || skip_all "node is not installed (apt-get install nodejs npm): no formula is rendered"
cache=${GP_KATEX_CACHE:-$(dirname "$bin")/katex-cache}/katex-$KATEX_VERSION
have_katex() {
  [ "$(node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
        "$cache/node_modules/katex/package.json" 2>/dev/null)" = "$KATEX_VERSION" ]
}
if ! have_katex; then
  command -v npm >/dev/null 2>&1 || skip_all "npm is not installed (apt-get install npm): cannot install katex@$KATEX_VERSION"
  mkdir -p "$(dirname "$cache")" || skip_all "cannot create $(dirname "$cache")"
  staging=$cache.tmp.$$
  rm -rf "$staging" "$cache" # a broken or partial cache of this version
  echo "katex: installing katex@$KATEX_VERSION into $cache"
  to=(); command -v timeout >/dev/null 2>&1 && to=(timeout 300)
  if ! "${to[@]}" npm install --no-audit --no-fund --no-update-notifier --fetch-retries=1 \
        --prefix "$staging" "katex@$KATEX_VERSION" >"$staging.log" 2>&1; then
    tail -5 "$staging.log"; rm -rf "$staging" "$staging.log"
    skip_all "npm install katex@$KATEX_VERSION failed (offline, or the npm registry is unreachable): no formula is rendered"
  fi
  rm -f "$staging.log"
  # another run may have installed it meanwhile: keep the first
  mv -T "$staging" "$cache" 2>/dev/null || rm -rf "$staging"
  have_katex || skip_all "katex@$KATEX_VERSION did not install into $cache"
fi

tmp=$(mktemp -d)
if [ "${GP_KEEP_OUTPUTS:-}" = 1 ]; then echo "katex: outputs kept in $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

# ---------------------------------------------------------------- extraction self-test
node "$validate" --self-test >"$tmp/self" 2>&1
set -- $(sed -n 's/^RESULT //p' "$tmp/self")
if [ $# -eq 2 ]; then
  pass=$((pass + $1)) fail=$((fail + $2))
  grep -v '^RESULT ' "$tmp/self"
else
  echo "FAIL katex: the extraction self-test did not run"; cat "$tmp/self"; fail=$((fail+1))
fi

# ---------------------------------------------------------------- the outputs
manifest=$tmp/manifest
: >"$manifest"
report_missing=0
fulldocs=()

# produce SOURCE KIND OK_CODES FILE ARGS... : run gradproof from the repo (file
# names in the output are relative), add the document to the manifest (KIND
# json|latex|markdown, or "-" for none), and judge the exit status.
produce() {
  local source=$1 kind=$2 ok=$3 file=$4; shift 4
  local label="${*}"
  (cd "$repo" && "$bin" "$@") >"$file" 2>"$file.err"
  local rc=$?
  if [ "$1" = report ] && [ $rc -eq 3 ] && [ ! -s "$file" ]; then
    if [ "$REPORT_REQUIRED" = 1 ]; then
      echo "FAIL katex: gradproof $label: exit 3 with no output (REPORT_REQUIRED=1)"; head -3 "$file.err"; fail=$((fail+1))
    else
      report_missing=$((report_missing+1)); skip=$((skip+1))
    fi
    return 1
  fi
  case " $ok " in
    *" $rc "*) ;;
    *) echo "FAIL katex: gradproof $label: exit $rc"; head -5 "$file.err"; fail=$((fail+1)); return 1 ;;
  esac
  if [ ! -s "$file" ]; then echo "FAIL katex: gradproof $label: no output"; fail=$((fail+1)); return 1; fi
  [ "$kind" = - ] || printf '%s\t%s\t%s\t%s\n' "$kind" "$source" "gradproof $label" "$file" >>"$manifest"
  return 0
}

for case in "$repo"/cases/*.case; do
  name=$(basename "$case" .case)
  c=cases/$name.case
  o=$tmp/$name
  for x in "" expand; do
    sfx=${x:+-expand}; flag=(); [ -n "$x" ] && flag=(--expand)
    produce "derive$sfx.json"     json     0 "$o.derive$sfx.json" derive "$c" --format json "${flag[@]}"
    produce "derive$sfx.latex"    latex    0 "$o.derive$sfx.tex"  derive "$c" --format latex "${flag[@]}"
    produce "derive$sfx.markdown" markdown 0 "$o.derive$sfx.md"   derive "$c" --format markdown "${flag[@]}"
  done
  for v in check claims symmetry; do
    produce "$v.json" json "0 1" "$o.$v.json" "$v" "$c" --json
  done
  produce report.markdown       markdown "0 1" "$o.report.md"       report "$c" --format markdown
  produce report.latex-fragment latex    "0 1" "$o.report-frag.tex" report "$c" --format latex --fragment
  produce report.json           json     "0 1" "$o.report.json"     report "$c" --format json
  if produce report.latex       -        "0 1" "$o.report.tex"      report "$c" --format latex; then
    fulldocs+=("$o.report.tex")
  fi
done
if [ $report_missing -gt 0 ]; then
  echo "SKIP: katex: gradproof report is not yet available (exit 3, no output): $report_missing report documents not validated" \
       "(set REPORT_REQUIRED=1 in tests/katex.sh once it exists)"
fi

# ---------------------------------------------------------------- render
node "$validate" --katex "$cache" "$manifest" >"$tmp/katex" 2>&1
set -- $(sed -n 's/^RESULT //p' "$tmp/katex")
if [ $# -eq 2 ]; then
  pass=$((pass + $1)) fail=$((fail + $2))
  grep -v '^RESULT ' "$tmp/katex"
else
  echo "FAIL katex: validate.js did not finish"; cat "$tmp/katex"; fail=$((fail+1))
fi

# ---------------------------------------------------------------- complete LaTeX documents
# compiled with every engine that is installed (GP_TEX_ENGINES="" acts as if none were)
# compile DIR ENGINE: report.tex in DIR; prints the errors, fails on any
to=(); command -v timeout >/dev/null 2>&1 && to=(timeout 180)
compile() {
  (cd "$1" && "${to[@]}" "$2" -interaction=nonstopmode -halt-on-error -no-shell-escape -file-line-error report.tex) >"$1/out" 2>&1 </dev/null
  local rc=$?
  # an error, or a character the fonts do not have (lualatex only warns)
  local errs
  errs=$(grep -E -A2 '^(! |[^ ]*:[0-9]+: )|Missing character|not set up for use with LaTeX' "$1/report.log" 2>/dev/null | head -8)
  [ $rc -eq 0 ] && [ -z "$errs" ] && [ -s "$1/report.pdf" ] && return 0
  echo "    exit $rc"
  if [ -n "$errs" ]; then printf '%s\n' "$errs" | sed 's/^/    /'; else tail -5 "$1/out" | sed 's/^/    /'; fi
  return 1
}
engines=() installed=0
if [ ${#fulldocs[@]} -gt 0 ]; then
  for e in ${GP_TEX_ENGINES-pdflatex lualatex}; do
    command -v "$e" >/dev/null 2>&1 || continue
    installed=1
    # an installation that cannot compile a minimal document is no TeX installation
    d=$tmp/probe-$e; mkdir -p "$d"
    printf '\\documentclass{article}\n\\begin{document}\nx\n\\end{document}\n' >"$d/report.tex"
    if compile "$d" "$e" >"$d/why"; then engines+=("$e"); else
      echo "SKIP: katex: $e is installed but does not compile a minimal document: ${#fulldocs[@]} complete LaTeX documents not compiled with it"
      sed -n 2p "$d/why"
      skip=$((skip + ${#fulldocs[@]}))
    fi
  done
fi
if [ ${#fulldocs[@]} -eq 0 ]; then
  : # no document to compile (report not available): said above
elif [ $installed = 0 ]; then
  echo "SKIP: katex: no TeX installation (neither pdflatex nor lualatex is installed): ${#fulldocs[@]} complete LaTeX documents (report --format latex) not compiled"
  skip=$((skip + ${#fulldocs[@]}))
elif [ ${#engines[@]} -eq 0 ]; then
  : # installed but broken: said above
else
  for engine in "${engines[@]}"; do
    for doc in "${fulldocs[@]}"; do
      name=$(basename "$doc" .report.tex)
      d=$tmp/$engine-$name; mkdir -p "$d"; cp "$doc" "$d/report.tex"
      if compile "$d" "$engine" >"$d/why"; then
        pass=$((pass+1))
      else
        echo "FAIL katex: $engine on gradproof report cases/$name.case --format latex:"; cat "$d/why"
        fail=$((fail+1))
      fi
    done
  done
  echo "katex: ${#fulldocs[@]} complete LaTeX documents compiled with ${engines[*]}"
fi

echo "katex: katex@$KATEX_VERSION, $(( $(date +%s) - start )) s"
if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ $fail -eq 0 ]
