#!/usr/bin/env bash
# Installs what the end-to-end tests drive besides cargo-protocrash itself, if missing:
# cargo-fuzz (tests/byoh.rs builds a protocrash target with `cargo fuzz build`), Debian's
# lcov and chromium (the coverage report is checked with `lcov --summary`, `genhtml` and a
# headless-browser render), and ClusterFuzz's libFuzzer engine (PyPI clusterfuzz, for
# tests/clusterfuzz.rs). Safe to run again: it only installs what is not there.
set -euo pipefail

need_apt=()
command -v lcov >/dev/null 2>&1 || need_apt+=(lcov)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${need_apt[*]} (apt-get)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (cargo install)" >&2
    cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi

# ClusterFuzz's own libFuzzer engine (tests/clusterfuzz.rs drives protocrash harnesses with
# it), in a virtualenv under target/.
venv="$(cd "$(dirname "$0")/.." && pwd)/target/clusterfuzz-venv"
if ! "$venv/bin/python" -c 'import clusterfuzz.fuzz' >/dev/null 2>&1; then
    echo "installing clusterfuzz (pip, into $venv)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check clusterfuzz==2.6.0
fi
