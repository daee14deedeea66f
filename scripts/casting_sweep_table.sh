#!/usr/bin/env bash
# The casting pollution sweep's table (issue 26) from the committed full-set runs: the settings that fix
# their own rate (pollution-2, pollution-5-drop, ...) go in the row of the method they run; the clean
# default is the selection run of the default fit.
set -euo pipefail
.venv/bin/inspect-svdd recipe sweep recipes/results/selection/casting-toolkit-full-auto.json \
  recipes/results/pollution/casting-*-full-pollution-*.json recipes/results/pollution/casting-pollution-*-full.json \
  --rename pollution-2=toolkit --rename pollution-5=toolkit --rename pollution-2-drop=drop --rename pollution-5-drop=drop \
  -o recipes/results/pollution/casting-full-sweep.md
# The default screening threshold z 2.5 (issue 26): the default fit with --drop-suspects at every rate
# (the 5 % run is the setting pollution-5-drop, the others `--setting drop --pollution RATE`)
.venv/bin/inspect-svdd recipe sweep recipes/results/pollution/screen-z-2.5/casting-*.json \
  --rename pollution-5-drop=drop -o recipes/results/pollution/casting-full-sweep-z2.5.md
