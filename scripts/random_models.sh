# Sourced by the benchmark scripts once they have set OUT: stops on the first error, runs from the
# repository root with PY the project's Python, and writes B0 and B1 with random weights into
# "$OUT" (scripts/random_models.py: {b0,b1}_{train,deploy}.keras); docs/ exists for their pages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
mkdir -p "$OUT" docs
"$PY" scripts/random_models.py "$OUT"
