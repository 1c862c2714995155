#!/usr/bin/env bash
# Installs the real authorization servers the interop tests
# (tests/real_servers) run against, into the git-ignored .real-servers/,
# from the pinned lockfiles next to their scripts. Idempotent: a folder
# whose lockfile is unchanged since its last install is left as it is.
#
# Needs node + npm and python3 (3.9 or later) with venv; the tests find
# the installs by themselves.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
servers="$repo/tests/real_servers/servers"
dest="$repo/.real-servers"
mkdir -p "$dest"

# True when $1 (a folder) was installed from exactly the lockfile $2.
up_to_date() { [ -f "$1/.installed-from" ] && cmp -s "$1/.installed-from" "$2"; }

echo "-- oidc-provider (npm)"
op="$dest/oidc_provider"
if up_to_date "$op" "$servers/oidc_provider/package-lock.json"; then
    echo "up to date"
else
    rm -rf "$op" && mkdir -p "$op"
    cp "$servers/oidc_provider/package.json" "$servers/oidc_provider/package-lock.json" "$op/"
    (cd "$op" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$servers/oidc_provider/package-lock.json" "$op/.installed-from"
fi

echo "-- Authlib (PyPI)"
al="$dest/authlib"
if up_to_date "$al" "$servers/authlib/requirements.txt"; then
    echo "up to date"
else
    rm -rf "$al"
    python3 -m venv "$al/venv"
    # --no-deps: requirements.txt pins every package, dependencies included.
    "$al/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        -r "$servers/authlib/requirements.txt"
    cp "$servers/authlib/requirements.txt" "$al/.installed-from"
fi
