#!/usr/bin/env bash
# Installs what the end-to-end tests drive besides cargo-protocrash itself, if missing:
# cargo-fuzz (tests/byoh.rs builds a protocrash target with `cargo fuzz build`), and Debian's
# lcov and chromium (the coverage report is checked with `lcov --summary`, `genhtml` and a
# headless-browser render). Safe to run again: it only installs what is not there.
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
