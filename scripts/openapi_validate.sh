#!/usr/bin/env bash
# Validates the native API's OpenAPI document against the OpenAPI 3.1
# schema (with openapi-spec-validator, which ships that schema).
#
#   scripts/openapi_validate.sh [FILE_OR_URL]
#
# Without an argument it validates crates/roster-server/tests/snapshots/openapi.json,
# which the server's tests keep equal to what `/openapi.json` serves (and
# check for what the schema cannot: path parameters, `$ref`s, operation
# ids). openapi-spec-validator is taken from $OPENAPI_SPEC_VALIDATOR, else
# .venv/bin, else PATH; if none is found it is installed from PyPI into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

DOC="${1:-crates/roster-server/tests/snapshots/openapi.json}"

OSV="${OPENAPI_SPEC_VALIDATOR:-}"
if [ -z "$OSV" ]; then
  if [ -x .venv/bin/openapi-spec-validator ]; then
    OSV=.venv/bin/openapi-spec-validator
  elif command -v openapi-spec-validator >/dev/null; then
    OSV="$(command -v openapi-spec-validator)"
  else
    echo "installing openapi-spec-validator into .venv" >&2
    [ -x .venv/bin/pip ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'openapi-spec-validator>=0.7,<1'
    OSV=.venv/bin/openapi-spec-validator
  fi
fi

# The validator detects the version from the document: insist on 3.1.
if [ -f "$DOC" ] && ! grep -q '"openapi": *"3\.1\.' "$DOC"; then
  echo "$DOC is not an OpenAPI 3.1 document" >&2
  exit 1
fi
"$OSV" --validation-errors all "$DOC"
