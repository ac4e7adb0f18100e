#!/usr/bin/env bash
# Schemathesis against the integration API's own OpenAPI document, on a server of its own:
# SQLite by default, PostgreSQL with RETORNO_FUZZ_DATABASE_URL=postgresql://.../retorno_fuzz.
# `make fuzz` runs it; the target is no server error (not_a_server_error) on either engine.
# Schemathesis comes with the test dependencies (make .venv/.installed-test); schemathesis.toml
# holds its settings. tests/test_api_conformance.py runs the same in the suite, with fewer examples.
#   EXAMPLES=50 (per operation), CHECKS=all (or not_a_server_error alone)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${EXAMPLES:-50}
checks=${CHECKS:-all}

tmp=$(mktemp -d /tmp/retorno-fuzz.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export RETORNO_DATABASE_URL=${RETORNO_FUZZ_DATABASE_URL:-sqlite:///$tmp/fuzz.sqlite3}
export RETORNO_BASE_HOST=localhost:$port RETORNO_ENV=development RETORNO_VAR_DIR=$tmp
if [[ $RETORNO_DATABASE_URL == postgresql* ]]; then
  .venv/bin/python - <<'EOF'
import asyncio, os
from piccolo.engine.postgres import PostgresEngine
async def reset():
    engine = PostgresEngine(config={"dsn": os.environ["RETORNO_DATABASE_URL"]})
    await engine._run_in_new_connection("DROP SCHEMA IF EXISTS public CASCADE")
    await engine._run_in_new_connection("CREATE SCHEMA public")
asyncio.run(reset())
EOF
fi
.venv/bin/retorno demo > /dev/null
key=$(.venv/bin/retorno apikeys create bella --name fuzz | grep -o 'rk_[A-Za-z0-9_-]*' | head -n 1)
.venv/bin/retorno serve --port "$port" --quiet --no-worker > "$tmp/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://localhost:$port/healthz" && break; sleep 0.2; done

echo "schemathesis on $RETORNO_DATABASE_URL, $examples examples per operation, checks: $checks"
set +e
.venv/bin/schemathesis --config-file schemathesis.toml run "http://localhost:$port/api/openapi.json" \
  --url "http://localhost:$port" -H "Authorization: Bearer $key" \
  --checks "$checks" --max-examples "$examples" --seed 1 --workers 1 \
  --suppress-health-check all --report junit --report-dir "$tmp" "$@"
status=$?
set -e
errors=$(grep -c "unexpected error" "$tmp/server.log" || true)
echo "server errors in the log: $errors (log: $tmp/server.log)"
exit $status
