#!/usr/bin/env bash
# structure: the shape rules of the architecture issue (8) that the layer table does not cover.
#   - one job per file: no .c file under src/ longer than 700 lines;
#   - per-worker state is reached through the task context (core/task.h), never a thread-local:
#     no _Thread_local / __thread outside src/core (the log's thread name lives there).
# Usage: tests/check/structure.sh (run by ctest as check/structure). Exit 0: none; 1: some.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bad=0
while IFS= read -r -d '' f; do
  n=$(wc -l <"$f")
  if [ "$n" -gt 700 ]; then echo "$f: $n lines (at most 700: split it by job)"; bad=$((bad + 1)); fi
done < <(find src -name '*.c' -print0)
while IFS= read -r hit; do
  echo "$hit: a thread-local outside src/core (reach per-worker state through task_ctx_t)"
  bad=$((bad + 1))
done < <(grep -rn --include='*.[ch]' -E '_Thread_local|__thread' src | grep -v '^src/core/' || true)
if [ "$bad" -gt 0 ]; then echo "structure: $bad problem(s)"; exit 1; fi
echo "structure: ok"
