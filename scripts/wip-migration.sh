#!/usr/bin/env bash
# Regenerate the one uncommitted migration from the current models (development only).
# Committed migrations are never touched; an uncommitted one is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/crisis-wip-migration.lock
flock 9
for file in migrations/versions/*.py; do
  git ls-files --error-unmatch "$file" >/dev/null 2>&1 || rm -f "$file"
done
scratch=$(mktemp -d)
export CRISIS_INSTANCE_PATH="$scratch"
unset CRISIS_DATABASE_URL CRISIS_BROKER_URL
.venv/bin/crisis db upgrade >/dev/null 2>&1
.venv/bin/crisis db migrate -m "${1:-work in progress}" 2>&1 | grep -E "Generating|Detected" || true
rm -rf "$scratch"
