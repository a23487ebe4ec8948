#!/usr/bin/env bash
# no-outside-paths: a clone of this repository must be self-contained (project issue 16). The
# development machines have a sibling folder ../shared (specifications, editing traces) that a
# user's clone lacks, so nothing that builds, tests or benchmarks may need it.
#
# Rule: no tracked file mentions `../shared` (nor an absolute /work/shared, nor a path built as
# '..', 'shared'), except
#   - files under docs/ and Markdown files (*.md), which may mention it as background reading;
#   - this script, which has to name the patterns.
# The rule is deliberately blunt — any mention in code, comments included, fails — because a path in
# a comment is where the next required path gets copied from. Data the tests need lives in the
# repository (tests/data/); a specification a comment wants to cite is named without a path.
#
# Usage: tests/check/no-outside-paths.sh   (from anywhere inside the checkout; run by ctest as
# check/no-outside-paths). Exit 0: clean; 1: offending lines printed; 77: not a git checkout (skipped).
set -euo pipefail

root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel 2>/dev/null) || {
  echo "no-outside-paths: not a git checkout, skipped"
  exit 77
}
cd "$root"
self=tests/check/no-outside-paths.sh
pattern='\.\./shared|/work/shared|["'\''][.][.]["'\''] *, *["'\'']shared["'\'']'

hits=$(git ls-files -z -- . ':(exclude)docs/**' ':(exclude)*.md' ":(exclude)$self" |
  xargs -0 -r grep -nIsE -- "$pattern" || true)

if [ -n "$hits" ]; then
  echo "no-outside-paths: tracked files refer to a path outside the repository (../shared):"
  printf '%s\n' "$hits" | sed 's/^/  /'
  echo "Put the data under tests/data/ (or name a document without its path); see the header of $self."
  exit 1
fi
echo "no-outside-paths: ok ($(git ls-files | wc -l) tracked files, none refers to ../shared outside docs/ and *.md)"
