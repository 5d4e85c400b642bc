#!/usr/bin/env bash
# The GitHub Action's one step (action.yml runs it; tests/action.rs runs it too): install
# cargo-protocrash if this runner has none, replay every target's corpus and kept
# reproducers (fast: a known bug fails the job at once), then fuzz every target (or the
# ones named) for the time given, with the CI summary, a JSON report and the job summary.
# Inputs arrive as INPUT_* variables, as GitHub passes them; exits as `cargo protocrash run`
# does (0 clean, 1 a finding, 2 a setup or build error).
set -euo pipefail
time=${INPUT_MAX_TOTAL_TIME:-5m}
fail_on=${INPUT_FAIL_ON:-any}
targets=${INPUT_TARGETS:-}
report=${INPUT_REPORT:-fuzz-report.json}
cd "${INPUT_WORKING_DIRECTORY:-.}"

if ! command -v cargo-protocrash >/dev/null 2>&1; then
    if [ -n "${INPUT_VERSION:-}" ]; then
        echo "installing cargo-protocrash ${INPUT_VERSION} from crates.io" >&2
        cargo install --locked cargo-protocrash --version "$INPUT_VERSION"
    else
        echo "installing cargo-protocrash from the action's own source" >&2
        cargo install --locked --path "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH names the action directory}"
    fi
fi

read -r -a names <<< "$targets"
if [ ${#names[@]} -eq 0 ]; then
    mapfile -t names < <(cargo protocrash list)
fi
for t in "${names[@]}"; do
    cargo protocrash repro "$t" --regression
done
if [ -n "$targets" ]; then
    status=0
    for t in "${names[@]}"; do
        cargo protocrash run "$t" --ci --max-total-time "$time" --fail-on "$fail_on" --report "$report.$t" || status=$?
        [ "$status" -ge 2 ] && exit "$status"
    done
    exit "$status"
fi
exec cargo protocrash run --all --ci --max-total-time "$time" --fail-on "$fail_on" --report "$report"
