#!/usr/bin/env bash
# layers: the include direction between the layers of src/ (project issue 8). A layer may include
# only the layers listed on its line below (itself included); an include of anything else — a
# higher layer, or a directory the table does not know — is a violation. src/main.c counts as cmd.
#
# The table, lowest layer first (docs/ARCHITECTURE.md quotes it; keep the two in step):
LAYERS='
yjs       yjs
core      core
http      core http
ws        core http ws
auth      core auth
phx       core auth http ws phx
net       core auth http ws phx net
cluster   core auth http ws phx cluster
store     core store yjs
docs      core auth http ws phx net cluster store yjs docs
activity  core auth http ws phx net cluster store yjs docs activity
channels  core auth http ws phx net cluster store yjs docs activity channels
api       core auth http ws phx net cluster store yjs docs activity channels api
cmd       core auth http ws phx net cluster store yjs docs activity channels api cmd
'
# Read: yjs (the CRDT engine) and core include nothing but themselves; http (the wire's requests)
# only core, ws (frames and the handshake) core and http; auth (signed tokens) only core; then
# phx (which checks topics against a token's claims) < net and phx < cluster (the Redis bus, beside net: neither knows the other; the
# server hands the bus's hooks to the pubsub as a phx_cluster_link_t) < store (which also uses
# yjs) < docs < activity < channels < api < cmd.
#
# What is checked: every `#include "dir/..."` line of src/*/*.c, src/*/*.h (any depth) and
# src/main.c. Includes without a directory ("x.h") and <system> includes are not layer edges.
# Each violation is printed as
#   src/x/file.c: includes y/file.h (x may include: ...)
# Usage: tests/check/layers.sh (from anywhere; run by ctest as check/layers). Exit 0: none; 1: some.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

declare -A allowed
while read -r layer deps; do
  [ -n "$layer" ] && allowed[$layer]=" $deps "
done <<<"$LAYERS"

violations=0 files=0 edges=0
declare -A bad_files
while IFS= read -r -d '' file; do
  files=$((files + 1))
  rel=${file#src/}
  if [ "$file" = src/main.c ]; then layer=cmd; else layer=${rel%%/*}; fi
  if [ -z "${allowed[$layer]+x}" ]; then
    echo "$file: layer '$layer' is not in the table of tests/check/layers.sh"
    violations=$((violations + 1)); bad_files[$file]=1
    continue
  fi
  while IFS= read -r inc; do
    [ -n "$inc" ] || continue
    edges=$((edges + 1))
    dep=${inc%%/*}
    case "${allowed[$layer]}" in *" $dep "*) continue ;; esac
    deps=${allowed[$layer]# }
    echo "$file: includes $inc ($layer may include: ${deps% })"
    violations=$((violations + 1)); bad_files[$file]=1
  done < <(sed -nE 's@^[[:space:]]*#[[:space:]]*include[[:space:]]*"([A-Za-z0-9_.-]+/[^"]+)".*@\1@p' "$file")
done < <(find src -type f \( -name '*.c' -o -name '*.h' \) -path 'src/*/*' -print0 | sort -z;
         [ -f src/main.c ] && printf 'src/main.c\0')

if [ "$violations" -gt 0 ]; then
  echo "layers: $violations violation(s) in ${#bad_files[@]} file(s) (checked $files files, $edges includes)"
  exit 1
fi
echo "layers: ok ($files files, $edges includes between layers, all downwards)"
