# Sourced by scripts/test and scripts/demo: create .venv once and install the project into it.
VENV="${CONNECTORKIT_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed"
# Reinstall only when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing connectorkit[dev,emulator,studio] into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev,emulator,studio]"
  touch "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
