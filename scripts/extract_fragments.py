#!/usr/bin/env python3
"""Extracts each seed document's OpenAPI fragment into
crates/roster-server/tests/fragments/<vendor>.json.

A one-off (its output is committed): run it again only when a seed changes.

    python3 scripts/extract_fragments.py [--seeds DIR] [VENDOR ...]

Without VENDOR arguments every seed is extracted. The vendor is the seed
file's name up to its first `-` (`yuno-update-....md` -> `yuno`).

Seeds that embed an OpenAPI document (a ````yaml fence) are converted as they
are, byte for byte in meaning. A seed without one (Crux's Jekyll page) is
turned into an OpenAPI 3.1 fragment from what the page documents: the method
and path of its front matter, its "URL Parameters" and "Request Parameters"
definition lists and its request example. Such a page documents no response,
so the fragment adds the responses Roster documents for that dialect
(docs/dialects/<vendor>.md), marked with `x-roster-defined: true`.

Needs PyYAML (`pip install pyyaml`).
"""

import argparse
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "roster-server" / "tests" / "fragments"

# Responses Roster defines for pages that document none, per vendor.
ROSTER_RESPONSES = {
    "crux": {
        "schemas": {
            "UserPermissions": {
                "type": "object",
                "description": "The user and every permission it holds directly at the caller's organization (sorted).",
                "required": ["user_uuid", "permission_uuids"],
                "additionalProperties": False,
                "properties": {
                    "user_uuid": {"type": "string", "format": "uuid"},
                    "permission_uuids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                },
            },
            "Detail": {
                "type": "object",
                "description": "Django REST framework's error body.",
                "required": ["detail"],
                "additionalProperties": False,
                "properties": {"detail": {"type": "string"}},
            },
            "FieldErrors": {
                "type": "object",
                "description": "Django REST framework's validation errors: each field with its messages.",
                "minProperties": 1,
                "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
        },
        "responses": {
            "200": ("The user's direct permissions after the change.", "#/components/schemas/UserPermissions"),
            "400": ("Invalid input.", {"oneOf": [{"$ref": "#/components/schemas/Detail"}, {"$ref": "#/components/schemas/FieldErrors"}]}),
            "401": ("No or an invalid token.", "#/components/schemas/Detail"),
            "403": ("The caller lacks `edit_org_users`, or a guard refused the change.", "#/components/schemas/Detail"),
            "404": ("No such user in the caller's organization.", "#/components/schemas/Detail"),
            "413": ("The body is too large.", "#/components/schemas/Detail"),
            "415": ("The body is not JSON.", "#/components/schemas/Detail"),
        },
        "security": {"Token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <key>`"}},
    },
}

TYPES = {
    "string": {"type": "string"},
    "string list": {"type": "array", "items": {"type": "string"}},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
}


def embedded_openapi(text):
    """The first ````yaml fence's content, else the first ```json fence that
    holds an OpenAPI document (SoftwareOne's page), or None."""
    m = re.search(r"^````yaml[^\n]*\n(.*?)^````", text, re.S | re.M)
    if m:
        return yaml.safe_load(m.group(1))
    for m in re.finditer(r"^```json[^\n]*\n(.*?)^```", text, re.S | re.M):
        doc = json.loads(m.group(1))
        if isinstance(doc, dict) and "openapi" in doc:
            return doc
    return None


def front_matter(text):
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m:
        raise ValueError("no OpenAPI block and no front matter")
    return yaml.safe_load(m.group(1)), text[m.end():]


def definitions(body, heading):
    """`name\\n: (type) description` entries under a `### heading`."""
    m = re.search(r"^###\s*" + re.escape(heading) + r"[^\n]*\n(.*?)(?=^#|\Z|^\{%)", body, re.S | re.M)
    out = []
    for name, kind, desc in re.findall(r"^(\w+)\n:\s*\(([^)]+)\)\s*(.*)$", m.group(1) if m else "", re.M):
        out.append((name, kind.strip(), desc.strip()))
    return out


def schema_for(kind, name):
    s = dict(TYPES.get(kind, {"type": "string"}))
    if s.get("type") == "array" and name.endswith("uuids"):
        s["items"] = {"type": "string", "format": "uuid"}
    if s.get("type") == "string" and name.endswith("uuid"):
        s["format"] = "uuid"
    return s


def from_page(vendor, text):
    """An OpenAPI fragment built from a Jekyll API page (Crux)."""
    meta, body = front_matter(text)
    path = re.sub(r"&lt;?([^&]+)&gt;?", r"{\1}", meta["title"])
    method = meta["method"].lower()
    example = None
    m = re.search(r"~~~\s*json\n(.*?)~~~", meta.get("right_code", ""), re.S)
    if m:
        example = json.loads(m.group(1))
    params = [
        {"name": n, "in": "path", "required": True, "description": d, "schema": schema_for(k, n)}
        for n, k, d in definitions(body, "URL Parameters")
    ]
    fields = definitions(body, "Request Parameters")
    request = {
        "type": "object",
        "required": [n for n, _, _ in fields],
        "properties": {n: {**schema_for(k, n), "description": d} for n, k, d in fields},
        # Roster's contract for this page: unknown fields are rejected (SPEC §2.6).
        "additionalProperties": False,
    }
    extra = ROSTER_RESPONSES[vendor]
    responses = {}
    for status, (desc, schema) in extra["responses"].items():
        schema = {"$ref": schema} if isinstance(schema, str) else schema
        responses[status] = {"description": desc, "content": {"application/json": {"schema": schema}}}
    media = {"schema": request}
    if example is not None:
        media["example"] = example
    paragraph = body.strip().split("\n\n")[0].strip()
    op = {
        "summary": meta.get("name", ""),
        "description": paragraph,
        "operationId": re.sub(r"\W+", "-", meta.get("name", path).lower()).strip("-"),
        "parameters": params,
        "requestBody": {"required": True, "content": {"application/json": media}},
        "responses": responses,
        "x-roster-defined": True,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": meta.get("name", vendor),
            "version": "1.0.0",
            "description": f"Built from the seed page by scripts/extract_fragments.py; the responses are Roster's (docs/dialects/{vendor}.md).",
        },
        "security": [{name: []} for name in extra["security"]],
        "paths": {path: {method: op}},
        "components": {"schemas": extra["schemas"], "securitySchemes": extra["security"]},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default=str(ROOT.parent / "shared" / "seeds"))
    ap.add_argument("vendors", nargs="*")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = sorted(pathlib.Path(args.seeds).glob("*.md"))
    done = set()
    for seed in seeds:
        vendor = seed.name.split("-")[0]
        if args.vendors and vendor not in args.vendors:
            continue
        text = seed.read_text(encoding="utf-8")
        doc = embedded_openapi(text)
        if doc is None:
            if vendor not in ROSTER_RESPONSES:
                print(f"{seed.name}: no OpenAPI block and no page converter; skipped", file=sys.stderr)
                continue
            doc = from_page(vendor, text)
        target = OUT / f"{vendor}.json"
        target.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        done.add(vendor)
        print(f"{seed.name} -> {target.relative_to(ROOT)}")
    missing = set(args.vendors) - done
    if missing:
        sys.exit(f"no seed for: {', '.join(sorted(missing))}")


if __name__ == "__main__":
    main()
