# Sourced by scripts/test and scripts/demo: create .venv once and install the project into it.
VENV="${CONNECTORKIT_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed"
_pip() {
  # Quiet, and without pip's warnings about this machine's index configuration ("Location …
  # is ignored"): what remains on the terminal is the project's own output, or a real error.
  "$VENV/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2>&1 >/dev/null \
    | { grep -v -e "^WARNING: Location '.*' is ignored" -e "^WARNING: The index url" || true; } >&2
}
# Reinstall only when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing connectorkit[dev,emulator,all] into $VENV" >&2
  _pip install --upgrade pip
  _pip install -e ".[dev,emulator,all]"
  touch "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
