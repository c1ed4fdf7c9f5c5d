#!/usr/bin/env bash
# `make fuzz`: every Go fuzz test (a func Fuzz… in a _test.go file) for
# FUZZTIME each, one at a time, since go test fuzzes one target of one
# package per run. Every target runs; the failed ones are named at the end.
# (`make test` runs their seed corpora, testdata/fuzz/ included.)
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
GO=${GO:-go}

targets=()
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' shared vote worker result e2e | xargs -n1 dirname | sort -u); do
  if ! list=$($GO test -list '^Fuzz' "./$dir" 2>&1); then
    echo "$list" >&2
    exit 1
  fi
  for name in $(grep '^Fuzz' <<<"$list"); do
    targets+=("./$dir $name")
  done
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
i=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  i=$((i + 1))
  echo "== fuzz $i/${#targets[@]}: $name in $pkg for $FUZZTIME"
  if $GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$log"; then
    continue
  fi
  # Go before 1.27 may end a run that found nothing with "context deadline
  # exceeded" as FUZZTIME runs out (go.dev/issue/75804). A failing input
  # is always named, so a run without one is no failure.
  if grep -q 'context deadline exceeded' "$log" &&
    ! grep -q -e 'Failing input written' -e 'failure while testing seed corpus' -e '^panic' "$log"; then
    echo "== fuzz: $name was stopped by Go's fuzztime race (go.dev/issue/75804); no input failed"
    continue
  fi
  failed+=("$pkg:$name")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== fuzz: ${#failed[@]} of ${#targets[@]} failed: ${failed[*]}"
  exit 1
fi
echo "== fuzz: all ${#targets[@]} targets passed"
