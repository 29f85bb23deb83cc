#!/usr/bin/env bash
# Fail when proto/ (the working tree) breaks compatibility with the previous contracts.
#
# `buf breaking` with the FILE rules of buf.yaml: no field/enum value renumbered, renamed,
# removed without `reserved`, no type or package change. One removal is allowed: a versioned
# package directory (proto/esper/sanctum/v1) may go once the working tree holds the same
# package at a higher version (proto/esper/sanctum/v2); it is then left out of the
# comparison on both sides. Compared against:
#   $BUF_BREAKING_AGAINST   a git ref, when set;
#   else, on a branch off main: the merge-base with main (origin/main, else main);
#   else HEAD~1 (the previous commit on main).
# Skips, with a message and exit 0, when that commit does not exist (first commit, shallow
# clone) or has no proto/. Usage: scripts/check_breaking.sh [REPO_ROOT]
set -euo pipefail

root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"
buf="${BUF:-}"
if [ -z "$buf" ]; then
  if [ -x .venv/bin/buf ]; then buf=.venv/bin/buf; else buf=buf; fi
fi
if ! command -v "$buf" >/dev/null 2>&1; then
  echo "check_breaking: buf not found (install buf-bin or set BUF); cannot check" >&2
  exit 1
fi
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "check_breaking: skipped: $root is not a git checkout, no previous contracts to compare"
  exit 0
fi

pick_ref() {
  if [ -n "${BUF_BREAKING_AGAINST:-}" ]; then echo "$BUF_BREAKING_AGAINST"; return; fi
  local main base
  for main in origin/main main; do
    if git rev-parse -q --verify "$main^{commit}" >/dev/null; then
      base=$(git merge-base HEAD "$main" 2>/dev/null || true)
      if [ -n "$base" ] && [ "$base" != "$(git rev-parse HEAD)" ]; then echo "$base"; return; fi
      break
    fi
  done
  echo "HEAD~1"
}

ref=$(pick_ref)
if ! sha=$(git rev-parse -q --verify "$ref^{commit}"); then
  why="there is no commit before this one"
  [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ] && why="this is a shallow clone without history (fetch with --depth 2 or more)"
  echo "check_breaking: skipped: $ref does not exist: $why"
  exit 0
fi
if ! git cat-file -e "$sha:proto" 2>/dev/null; then
  echo "check_breaking: skipped: $ref ($(git rev-parse --short "$sha")) has no proto/ to compare against"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The old commit's contracts, laid out as that commit had them (its buf.yaml, if any).
paths=(proto)
git cat-file -e "$sha:buf.yaml" 2>/dev/null && paths+=(buf.yaml)
git archive "$sha" "${paths[@]}" | tar -x -C "$tmp"
against="$tmp"
[ -f "$tmp/buf.yaml" ] || against="$tmp/proto"

# A removed package directory .../vN is superseded when .../vM (M > N) with .proto files
# exists in the working tree: clients move to the new version, the old one is not compared.
has_protos() { [ -d "$1" ] && [ -n "$(find "$1" -maxdepth 1 -name '*.proto' -print -quit)" ]; }
while IFS= read -r old_dir; do
  rel=${old_dir#"$tmp/"}
  has_protos "$rel" && continue
  parent=$(dirname "$rel") version=$(basename "$rel")
  n=${version#v} newer=""
  for dir in "$parent"/v*; do
    m=${dir##*/v}
    if [[ "$m" =~ ^[0-9]+$ ]] && [ "$m" -gt "$n" ] && has_protos "$dir"; then newer=$dir; fi
  done
  if [ -n "$newer" ]; then
    echo "check_breaking: $rel removed, superseded by $newer: left out of the comparison"
    rm -rf "$old_dir"
  fi
done < <(find "$tmp/proto" -type d -regex '.*/v[0-9]+' | sort)

echo "check_breaking: buf breaking proto/ (working tree) against $ref = $(git log -1 --format='%h "%s"' "$sha")"
if "$buf" breaking . --against "$against" --error-format text; then
  echo "check_breaking: no breaking changes"
else
  echo "check_breaking: BREAKING contract change against $ref. Within v1 only additive changes" >&2
  echo "  are allowed: add fields with new numbers; reserve deleted numbers and names;" >&2
  echo "  incompatible changes go to a new package version (esper.*.v2)." >&2
  exit 1
fi
