#!/usr/bin/env bash
# The facility test: docs/deploy.md followed on Debian 12's own Tango stack (MariaDB, DataBaseds,
# tango_admin, dsconfig, Starter), on loopback. It installs Debian packages, so it needs root and
# apt; anywhere else it says loudly that it did not run (and fails under CI=true).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || ! command -v setpriv >/dev/null; then
    {
        echo "################################################################################"
        echo "# FACILITY TEST DID NOT RUN: it needs root, apt-get and setpriv (Debian 12)."
        echo "# docs/deploy.md is NOT verified on this machine."
        echo "################################################################################"
    } >&2
    [ "${CI:-}" = true ] && exit 1
    exit 0
fi
python=${FACILITY_PYTHON:-.venv/bin/python}  # the README install: pytango, psutil, build
exec "$python" -m tests.facility  # -m: the checkout is on its path, and on no child's
