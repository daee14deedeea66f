#!/usr/bin/env bash
# The pollution sweep of issue 26: each method at each pollution rate, then one summary table.
#   scripts/pollution_sweep.sh RECIPE SIZE CLASSES OUT SETTING [SETTING ...]
#   e.g. scripts/pollution_sweep.sh recipes/mnist.yaml sweep 0-9 recipes/results/pollution/sweep paper paper-rcae
# Rates: $RATES (default "0 0.01 0.02 0.05 0.1"). Runs one torch thread each (--threads 1) and resumes
# finished (case, seed) runs, so an interrupted sweep continues where it stopped.
set -euo pipefail
recipe=$1 size=$2 classes=$3 out=$4
shift 4
for setting in "$@"; do
  for rate in ${RATES:-0 0.01 0.02 0.05 0.1}; do
    .venv/bin/inspect-svdd recipe run "$recipe" --setting "$setting" --size "$size" --classes "$classes" \
      --pollution "$rate" --threads 1 --resume -o "$out" -q > /dev/null
  done
done
name=$(basename "$recipe" .yaml)
.venv/bin/inspect-svdd recipe sweep "$out"/"$name"-*-"$size"-pollution-*.json -o "$out/$name-$size-sweep.md"
