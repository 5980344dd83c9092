#!/usr/bin/env bash
# `make install`: the virtualenv and the pinned tools, saying what it does while it does it.
# On a terminal pip's progress shows on one line that keeps being rewritten; in a log (CI) pip
# is quiet and only the step lines appear.
set -euo pipefail
python=$1 venv=$2
started=$SECONDS
echo "installing into $venv: once, about 40 s on a first run"
if [ ! -x "$venv/bin/python" ]; then
  echo "  1/2 creating $venv ($python -m venv)"
  "$python" -m venv "$venv"
fi
echo "  2/2 pip install -r requirements-dev.txt (the runtime's pinned packages and the dev tools)"
pip=("$venv/bin/pip" install --disable-pip-version-check -r requirements-dev.txt)
if [ -t 1 ]; then
  "${pip[@]}" | while IFS= read -r line; do printf '\r\033[K      %.100s' "$line"; done
  printf '\r\033[K'
else
  "${pip[@]}" -q
fi
echo "installed in $((SECONDS - started)) s"
