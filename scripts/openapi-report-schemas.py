#!/usr/bin/env python3
"""Embeds the shipped report schemas (schema/report-v*.schema.json) in the plane's OpenAPI document
as components ReportV1, ReportV2, … and makes Report the oneOf of them, the way
crates/netready-plane/tests/api.rs checks it: without $schema and $id, each #/$defs/x reference
rewritten to #/components/schemas/ReportVn/$defs/x.

  scripts/openapi-report-schemas.py          rewrite crates/netready-plane/openapi/plane-v1.json
"""

import glob
import json
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOC = os.path.join(ROOT, "crates/netready-plane/openapi/plane-v1.json")


def embedded(schema, component):
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = f"#/components/schemas/{component}/$defs/" + v[len("#/$defs/"):]
            else:
                out[k] = embedded(v, component)
        return out
    if isinstance(schema, list):
        return [embedded(v, component) for v in schema]
    return schema


def main():
    with open(DOC) as f:
        doc = json.load(f)
    schemas = doc["components"]["schemas"]
    versions = sorted(
        int(re.search(r"report-v(\d+)\.schema\.json$", p).group(1))
        for p in glob.glob(os.path.join(ROOT, "schema/report-v*.schema.json"))
    )
    rebuilt = {}
    for name, value in schemas.items():
        if re.fullmatch(r"ReportV\d+", name):
            continue
        rebuilt[name] = value
        if name == "Report":
            for v in versions:
                with open(os.path.join(ROOT, f"schema/report-v{v}.schema.json")) as f:
                    schema = json.load(f)
                schema.pop("$schema", None)
                schema.pop("$id", None)
                rebuilt[f"ReportV{v}"] = embedded(schema, f"ReportV{v}")
    listed = ", ".join(f"version {v}" for v in versions[:-1]) + f" and version {versions[-1]}"
    rebuilt["Report"]["description"] = (
        f"A network readiness report of any accepted schema_version: the plane accepts {listed} "
        "(what current agents send), told apart by schema_version."
    )
    rebuilt["Report"]["oneOf"] = [{"$ref": f"#/components/schemas/ReportV{v}"} for v in versions]
    doc["components"]["schemas"] = rebuilt
    with open(DOC, "w") as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
