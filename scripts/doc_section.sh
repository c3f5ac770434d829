#!/usr/bin/env bash
# Replaces the generated section of a Markdown file, the lines between `<!-- NAME:start -->` and
# `<!-- NAME:end -->`, with standard input; every line outside the markers stays as written.
# A file that does not exist is created holding only the section; a file without the two markers
# (once each, start first) is refused and left unchanged, so hand-written text is never dropped.
# Usage: scripts/doc_section.sh FILE NAME < generated.md
#        scripts/doc_section.sh FILE NAME --check    (only the marker check; reads nothing)
set -euo pipefail
FILE=$1
NAME=$2
START="<!-- $NAME:start -->"
END="<!-- $NAME:end -->"
if [ -e "$FILE" ]; then
  if [ "$(grep -cxF "$START" "$FILE")" != 1 ] || [ "$(grep -cxF "$END" "$FILE")" != 1 ] ||
     [ "$(grep -nxF "$START" "$FILE" | cut -d: -f1)" -gt "$(grep -nxF "$END" "$FILE" | cut -d: -f1)" ]; then
    echo "error: $FILE: needs one '$START' line, then one '$END' line; not changed" >&2
    exit 1
  fi
fi
[ "${3:-}" = "--check" ] && exit 0
NEW=$(mktemp)
trap 'rm -f "$NEW"' EXIT
cat > "$NEW"
if [ ! -e "$FILE" ]; then
  { echo "$START"; cat "$NEW"; echo "$END"; } > "$FILE"
  exit 0
fi
OUT=$(mktemp "$FILE.XXXXXX")
awk -v start="$START" -v end="$END" -v new="$NEW" '
  $0 == start { print; while ((getline line < new) > 0) print line; skip = 1; next }
  $0 == end { skip = 0 }
  !skip { print }
' "$FILE" > "$OUT"
chmod --reference="$FILE" "$OUT"
mv "$OUT" "$FILE"
