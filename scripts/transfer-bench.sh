#!/usr/bin/env bash
# Export and import side by side with `roster generate` (docs/benchmarks.md,
# "Export and import"). Usage: scripts/transfer-bench.sh USERS [PG_ADMIN_URL]
# Needs a release build at $ROSTER (default target/release/roster); with a
# PostgreSQL admin URL (e.g. postgres://postgres@127.0.0.1:5432/test) it
# also generates into and imports into fresh PostgreSQL databases.
set -euo pipefail
USERS=${1:?users}
PG=${2:-}
ROSTER=${ROSTER:-target/release/roster}
DIR=${DIR:-$(mktemp -d /tmp/roster-transfer-XXXX)}
mkdir -p "$DIR"
echo "# $USERS users, in $DIR"
t() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %M KiB max RSS" "$@" >/dev/null
}
$ROSTER init --database "sqlite://$DIR/src.db" --org Load --admin-email owner@load.test --json >/dev/null
t "generate (SQLite)" $ROSTER generate --database "sqlite://$DIR/src.db" --users "$USERS"
t "export (SQLite)" $ROSTER export --database "sqlite://$DIR/src.db" --output "$DIR/export.jsonl"
ls -l "$DIR/export.jsonl" | awk '{print "export file: " $5 " bytes"}'
wc -l < "$DIR/export.jsonl" | awk '{print "export lines: " $1}'
t "import (SQLite)" $ROSTER import --database "sqlite://$DIR/dst.db" --input "$DIR/export.jsonl"
t "export again (SQLite)" $ROSTER export --database "sqlite://$DIR/dst.db" --output "$DIR/again.jsonl"
cmp "$DIR/export.jsonl" "$DIR/again.jsonl" && echo "SQLite round trip: byte-equal"
if [ -n "$PG" ]; then
  base=${PG%/*}
  for db in roster_xfer_gen roster_xfer_imp; do
    psql "$PG" -qc "DROP DATABASE IF EXISTS $db" && psql "$PG" -qc "CREATE DATABASE $db"
  done
  $ROSTER init --database "$base/roster_xfer_gen" --org Load --admin-email owner@load.test --json >/dev/null
  t "generate (PostgreSQL)" $ROSTER generate --database "$base/roster_xfer_gen" --users "$USERS"
  t "import (PostgreSQL)" $ROSTER import --database "$base/roster_xfer_imp" --input "$DIR/export.jsonl"
  t "export (PostgreSQL)" $ROSTER export --database "$base/roster_xfer_imp" --output "$DIR/pg.jsonl"
  cmp "$DIR/export.jsonl" "$DIR/pg.jsonl" && echo "SQLite -> PostgreSQL round trip: byte-equal"
  for db in roster_xfer_gen roster_xfer_imp; do psql "$PG" -qc "DROP DATABASE $db"; done
fi
[ -n "${KEEP:-}" ] || rm -rf "$DIR"
