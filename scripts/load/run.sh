#!/usr/bin/env bash
# HTTP load on loopback, as reported in docs/benchmarks.md.
#
#   scripts/load/run.sh BACKEND USERS [RESULTS_FILE]
#
# BACKEND is `sqlite` or `postgres` (server from ROSTER_LOAD_PG, default
# postgres://postgres@127.0.0.1:5432; a throw-away database is created and
# dropped). It builds `roster` in release mode (CARGO_TARGET_DIR, default
# ./target), bootstraps a fresh database, loads USERS users with
# `roster generate` (about ten grants each), starts `roster serve`, records
# its start-up time and RSS, then runs wrk for each scenario at each
# connection count:
#
#   healthz  GET /healthz (the server's own ceiling)
#   check    POST /v1/check, one decision per request
#   check-jwt  the same, authorized by a Roster-issued token (POST
#            /v1/oauth/token for the owner's key) instead of the API key
#   batch    POST /v1/check/batch, 100 decisions per request
#   yuno     Yuno PATCH .../account-permissions (a durable grant change + audit event)
#   lexful   Lexful PATCH /v1/users/{id} (a durable grant change + audit event)
#
# WEBHOOKS=N (default 0) adds N active webhook subscriptions (`*`, spread
# over the organizations the dialect scenarios write to) before the runs,
# all to one local receiver (`webhook_bench receive`, built from
# crates/roster-server/examples unless ROSTER_RECEIVER_BIN is given); the
# receiver runs at nice RECEIVER_NICE (default 10: it stands for an endpoint
# on another machine, so it takes what the server leaves of these cores), the
# server runs with --allow-private-targets, the rows' scenario names
# carry `+N hooks`, and the events received are printed at the end.
#
# Environment: DURATION (wrk -d, default 10s), CONNS (default "1 16 64"),
# SCENARIOS (default all six), PORT (default 18080), ROSTER_BIN (skip the build),
# ROSTER_LOAD_REUSE (a directory with roster.db, init.json, generate.json and
# sample/ from an earlier `roster init` + `roster generate`, SQLite only).
# Prints one markdown table row per run (and appends them to RESULTS_FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."

BACKEND=${1:?usage: run.sh sqlite|postgres USERS [RESULTS_FILE]}
USERS=${2:?usage: run.sh sqlite|postgres USERS [RESULTS_FILE]}
RESULTS=${3:-/dev/null}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-"1 16 64"}
SCENARIOS=${SCENARIOS:-"healthz check check-jwt batch yuno lexful"}
PORT=${PORT:-18080}
WEBHOOKS=${WEBHOOKS:-0}
PG=${ROSTER_LOAD_PG:-postgres://postgres@127.0.0.1:5432}
HERE=scripts/load

if ! command -v wrk >/dev/null; then
  apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
if [ -z "${ROSTER_BIN:-}" ]; then
  cargo build --release --locked -p roster >&2
  ROSTER_BIN="${CARGO_TARGET_DIR:-target}/release/roster"
fi

SERVE_FLAGS=()
if [ "$WEBHOOKS" -gt 0 ]; then
  SERVE_FLAGS+=(--allow-private-targets)
  if [ -z "${ROSTER_RECEIVER_BIN:-}" ]; then
    cargo build --release --locked -p roster-server --example webhook_bench >&2
    ROSTER_RECEIVER_BIN="${CARGO_TARGET_DIR:-target}/release/examples/webhook_bench"
  fi
fi

WORK=$(mktemp -d /tmp/roster-load.XXXXXX)
SERVER_PID=""
RECEIVER_PID=""
PG_DB=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$RECEIVER_PID" ]; then kill "$RECEIVER_PID" 2>/dev/null || true; wait "$RECEIVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

case "$BACKEND" in
  sqlite) DB="sqlite://$WORK/roster.db" ;;
  postgres)
    PG_DB="roster_load_$$"
    psql -q "$PG/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
    DB="$PG/$PG_DB" ;;
  *) echo "unknown backend $BACKEND" >&2; exit 2 ;;
esac

json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

if [ -n "${ROSTER_LOAD_REUSE:-}" ]; then
  # A directory kept from an earlier run: roster.db (SQLite), init.json,
  # generate.json and sample/ (large data sets take long to generate).
  DB="sqlite://$ROSTER_LOAD_REUSE/roster.db"
  cp "$ROSTER_LOAD_REUSE/init.json" "$ROSTER_LOAD_REUSE/generate.json" "$WORK/"
  cp -r "$ROSTER_LOAD_REUSE/sample" "$WORK/sample"
else
  "$ROSTER_BIN" init --database "$DB" --org "Load" --admin-email owner@load.test --json > "$WORK/init.json"
  echo "generating $USERS users ..." >&2
  "$ROSTER_BIN" generate --database "$DB" --users "$USERS" --sample "$WORK/sample" > "$WORK/generate.json"
  cat "$WORK/generate.json" >&2
fi
OWNER=$(json api_key < "$WORK/init.json")

# Start-up: from exec to the first successful /healthz (model loaded from the database).
T0=$(date +%s.%N)
RUST_LOG=warn "$ROSTER_BIN" serve --database "$DB" --listen "127.0.0.1:$PORT" --token-lifetime 3600 ${SERVE_FLAGS[@]+"${SERVE_FLAGS[@]}"} > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.02
done
T1=$(date +%s.%N)
STARTUP=$(python3 -c "print(f'{$T1 - $T0:.2f}')")
rss_mib() { awk -v k="$1" '$1 == k":" { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }
RSS_START=$(rss_mib VmRSS)
echo "start-up ${STARTUP}s, RSS ${RSS_START} MiB" >&2

# API keys of a few organizations' administrators, for the dialects.
: > "$WORK/keys.tsv"
head -n 8 "$WORK/sample/orgs.tsv" | while IFS=$'\t' read -r org admin users accounts; do
  key=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/api-keys" -H "Authorization: Bearer $OWNER" \
    -H 'Content-Type: application/json' -d "{\"user_id\":\"$admin\",\"name\":\"load\"}")
  kid=$(echo "$key" | json key_id)
  secret=$(echo "$key" | json key)
  printf '%s\t%s\t%s\t%s\t%s\n' "$kid" "$secret" "${accounts%%,*}" "$users" "$accounts" >> "$WORK/keys.tsv"
done

# Webhook subscriptions, all to one local receiver.
HOOKS=""
if [ "$WEBHOOKS" -gt 0 ]; then
  nice -n "${RECEIVER_NICE:-10}" "$ROSTER_RECEIVER_BIN" receive 127.0.0.1:0 > "$WORK/receiver.log" 2>&1 &
  RECEIVER_PID=$!
  until grep -q '^receiving at ' "$WORK/receiver.log"; do
    kill -0 "$RECEIVER_PID" 2>/dev/null || { cat "$WORK/receiver.log" >&2; exit 1; }
    sleep 0.02
  done
  HOOK_URL=$(awk '/^receiving at / { print $3; exit }' "$WORK/receiver.log")
  mapfile -t HOOK_ORGS < <(head -n 8 "$WORK/sample/orgs.tsv" | cut -f1)
  for i in $(seq 0 $((WEBHOOKS - 1))); do
    org=${HOOK_ORGS[$((i % ${#HOOK_ORGS[@]}))]}
    curl -sf -X POST "http://127.0.0.1:$PORT/v1/organizations/$org/webhooks" -H "Authorization: Bearer $OWNER" \
      -H 'Content-Type: application/json' -d "{\"url\":\"$HOOK_URL\",\"event_types\":[\"*\"]}" >/dev/null
  done
  HOOKS=" +$WEBHOOKS hooks"
  echo "$WEBHOOKS webhook subscriptions to $HOOK_URL" >&2
fi

# A Roster-issued token for the owner's key (client credentials, HTTP Basic).
OWNER_KID=$(json api_key_id < "$WORK/init.json")
JWT=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/oauth/token" -u "$OWNER_KID:$OWNER" \
  -d grant_type=client_credentials | json access_token)

# wrk prints latencies as 12.34us / 1.23ms / 1.02s: to microseconds.
to_us() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 } else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 } else print v }'; }

run() {
  local scenario=$1 conns=$2 threads=2 out
  [ "$conns" -lt 2 ] && threads=1
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  case "$scenario" in
    healthz) out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "http://127.0.0.1:$PORT/healthz") ;;
    check) out=$(ROSTER_TOKEN=$OWNER ROSTER_CHECKS=$WORK/sample/checks.tsv wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s $HERE/check.lua "http://127.0.0.1:$PORT") ;;
    check-jwt) out=$(ROSTER_TOKEN=$JWT ROSTER_CHECKS=$WORK/sample/checks.tsv wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s $HERE/check.lua "http://127.0.0.1:$PORT") ;;
    batch) out=$(ROSTER_TOKEN=$OWNER ROSTER_CHECKS=$WORK/sample/checks.tsv ROSTER_BATCH=100 wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s $HERE/check.lua "http://127.0.0.1:$PORT") ;;
    yuno|lexful) out=$(ROSTER_DIALECT=$scenario ROSTER_KEYS=$WORK/keys.tsv wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s $HERE/patch.lua "http://127.0.0.1:$PORT") ;;
  esac
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec:/ { printf "%.0f", $2 }')
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }' | to_us)
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }' | to_us)
  errors=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
  local row="| $BACKEND | $USERS | $scenario$HOOKS | $conns | $rps | $p50 | $p99 | ${errors:-0} | $load |"
  echo "$row"
  echo "$row" >> "$RESULTS"
  if [ -n "$errors" ] && [ "$scenario" != healthz ]; then
    # Show what went wrong once.
    echo "$out" | tail -n 3 >&2
  fi
}

echo "| backend | users | scenario | conns | req/s | p50 µs | p99 µs | non-2xx | load avg |"
echo "|---|---|---|---|---|---|---|---|---|"
for scenario in $SCENARIOS; do
  for c in $CONNS; do
    run "$scenario" "$c"
  done
done
if [ -n "$RECEIVER_PID" ]; then
  sleep 2
  echo "webhooks: $(tail -n 1 "$WORK/receiver.log")" >&2
fi
RSS_END=$(rss_mib VmRSS)
RSS_PEAK=$(rss_mib VmHWM)
GEN_SECS=$(json seconds < "$WORK/generate.json")
echo "| $BACKEND | $USERS | start-up ${STARTUP}s | RSS start ${RSS_START} MiB, end ${RSS_END} MiB, peak ${RSS_PEAK} MiB | generate ${GEN_SECS}s |" | tee -a "$RESULTS"
