#!/usr/bin/env bash
# Makes .venv/ with the locked dependencies and the project (the `catdog` command). Quick and
# changes nothing when the environment already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidates=("${PYTHON:-}" python3.10 /root/.pyenv/versions/3.10.*/bin/python /usr/bin/python3.10 /usr/local/bin/python3.10)
  for p in "${candidates[@]}"; do
    [ -n "$p" ] || continue
    # The interpreter's own path, not a pyenv shim (which needs PYENV_VERSION to pick 3.10).
    if PYENV_VERSION="${PYENV_VERSION:-3.10.13}" "$p" -c 'import sys; assert sys.version_info[:2] == (3, 10); print(sys.executable)' 2>/dev/null; then
      return 0
    fi
  done
  echo "setup: Python 3.10 not found (TFX 1.16 needs 3.9 or 3.10); set PYTHON=/path/to/python3.10" >&2
  return 1
}

# `setup.sh kfp`: the side environment .venv-kfp/ that `catdog kfp run-local` drives, KFP's SDK from
# requirements-kfp.lock and nothing of TFX (KFP >= 2.7 needs a protobuf TFX 1.16 cannot take). Made on demand
# by that command (and so by its test), not by `make setup`.
if [ "${1:-}" = kfp ]; then
  stamp=.venv-kfp/.locked
  if [ -f "$stamp" ] && [ "$stamp" -nt requirements-kfp.lock ] && [ -x .venv-kfp/bin/python ]; then
    exit 0
  fi
  command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
  python=$(find_python)
  [ -x .venv-kfp/bin/python ] || uv venv --quiet --python "$python" .venv-kfp
  uv pip sync --quiet --python .venv-kfp/bin/python requirements-kfp.lock
  touch "$stamp"
  echo "setup: .venv-kfp ready (kfp $(.venv-kfp/bin/python -c 'import kfp; print(kfp.__version__)'))"
  exit 0
fi

stamp=.venv/.locked
if [ -f "$stamp" ] && [ "$stamp" -nt requirements.lock ] && [ "$stamp" -nt pyproject.toml ] && [ -x .venv/bin/catdog ]; then
  exit 0
fi
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
python=$(find_python)
[ -x .venv/bin/python ] || uv venv --quiet --python "$python" .venv
uv pip sync --quiet --python .venv/bin/python requirements.lock
uv pip install --quiet --python .venv/bin/python --no-deps -e .
touch "$stamp"
echo "setup: .venv ready ($(.venv/bin/python --version)); command: .venv/bin/catdog"
