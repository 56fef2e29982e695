#!/usr/bin/env python3
"""Checks FISC reports written by test_fisc (python3 standard library only).

  check_report.py csv    REPORT.csv   EXPECTED.json
  check_report.py xlsx   REPORT.xlsx  EXPECTED.json
  check_report.py html   REPORT.html  EXPECTED.json
  check_report.py md     REPORT.md    EXPECTED.json
  check_report.py oscal-cd FILE.json  EXPECTED.json
  check_report.py oscal-ar FILE.json  EXPECTED.json

EXPECTED.json (written by the test from the CSV it generated):
  {"ids": [ID, ...],                       # every criterion, catalog order
   "titles": {ID: [title_ja, title_en]},
   "cells": {ID: {"fi"|"provider"|"cloud": [mark_label, text_ja, text_en]}},
   "provider_ids": [ID, ...],              # provider mark primary/partial
   "evidence": {ID: status},               # optional: expected evidence status
   "must_escape": "<script>..."}           # optional: text that must be escaped

Tables are compared cell by cell; the first mismatches are printed and the
exit status is 1 when anything differs.
"""
import csv
import io
import json
import re
import sys
import zipfile
import xml.etree.ElementTree as ET

PARTIES = ["fi", "provider", "cloud"]
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DATETIME_TZ = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
EVIDENCE_LABEL = {"pass": "合格 / Pass", "fail": "不合格 / Fail",
                  "not_applicable": "該当なし / Not applicable", "error": "評価エラー / Evaluation error",
                  "no_evidence": "証跡なし / No evidence", "none": "対象チェックなし / No check bound"}

errors = []


def err(msg):
    errors.append(msg)


def token_ok(s):
    # OSCAL token: (\p{L}|_)(\p{L}|\p{N}|[.\-_])*
    return bool(s) and (s[0].isalpha() or s[0] == "_") and all(
        c.isalpha() or c.isdigit() or c in ".-_" for c in s[1:])


def compare_table(rows, exp):
    """rows: list of lists of strings (header first)."""
    header = rows[0]
    if header[0] != "基準番号 / ID" or len(header) != 18:
        err("unexpected header %r" % header[:3])
        return
    by_id = {}
    for r in rows[1:]:
        r = r + [""] * (18 - len(r))
        if r[0] in by_id:
            err("duplicate row %s" % r[0])
        by_id[r[0]] = r
    if [r[0] for r in rows[1:]] != exp["ids"]:
        err("row order/IDs differ from the catalog (%d rows, %d expected)" % (len(rows) - 1, len(exp["ids"])))
    for cid in exp["ids"]:
        r = by_id.get(cid)
        if r is None:
            err("missing row %s" % cid)
            continue
        tja, ten = exp["titles"][cid]
        if r[3] != tja or r[4] != ten:
            err("%s: title %r/%r != %r/%r" % (cid, r[3], r[4], tja, ten))
        cells = exp["cells"].get(cid, {})
        for pi, p in enumerate(PARTIES):
            want = cells.get(p, ["", "", ""])
            got = [r[6 + 3 * pi], r[7 + 3 * pi], r[8 + 3 * pi]]
            if got != want:
                err("%s %s: %r != %r" % (cid, p, got, want))
        ev = exp.get("evidence", {}).get(cid)
        if ev is not None and r[15] != EVIDENCE_LABEL[ev]:
            err("%s evidence: %r != %r" % (cid, r[15], EVIDENCE_LABEL[ev]))


def check_csv(path, exp):
    raw = open(path, "rb").read()
    if not raw.startswith(b"\xef\xbb\xbf"):
        err("CSV lacks the UTF-8 BOM")
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    compare_table(rows, exp)


def col_index(ref):
    letters = re.match(r"[A-Z]+", ref).group(0)
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1, int(ref[len(letters):]) - 1


def read_xlsx(path):
    m = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    z = zipfile.ZipFile(path)
    if z.testzip() is not None:
        err("xlsx: corrupt member")
    wb = ET.fromstring(z.read("xl/workbook.xml"))
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    shared = []
    if "xl/sharedStrings.xml" in z.namelist():
        sst = ET.fromstring(z.read("xl/sharedStrings.xml"))
        for si in sst.findall(m + "si"):
            shared.append("".join(t.text or "" for t in si.iter(m + "t")))
    sheets = {}
    for s in wb.find(m + "sheets"):
        target = targets[s.get(rel_ns + "id")]
        target = target.lstrip("/")
        if not target.startswith("xl/"):
            target = "xl/" + target
        root = ET.fromstring(z.read(target))
        grid = {}
        for c in root.iter(m + "c"):
            col, row = col_index(c.get("r"))
            t = c.get("t")
            v = c.find(m + "v")
            if t == "s":
                val = shared[int(v.text)]
            elif t == "inlineStr":
                val = "".join(x.text or "" for x in c.iter(m + "t"))
            else:
                val = v.text if v is not None else ""
            grid[(row, col)] = val
        nrows = max([r for r, _ in grid] + [-1]) + 1
        ncols = max([c for _, c in grid] + [-1]) + 1
        sheets[s.get("name")] = [[grid.get((r, c), "") for c in range(ncols)] for r in range(nrows)]
    return sheets


def check_xlsx(path, exp):
    sheets = read_xlsx(path)
    for name in ("対応表", "改訂履歴", "証跡", "概要"):
        if name not in sheets:
            err("xlsx: sheet %s missing (have %s)" % (name, list(sheets)))
            return
    compare_table(sheets["対応表"], exp)
    hist = sheets["改訂履歴"]
    if exp.get("history") and [r[2] for r in hist[1:]] != exp["history"]:
        err("xlsx history %r != %r" % ([r[2] for r in hist[1:]], exp["history"]))


def check_html(path, exp):
    s = open(path, encoding="utf-8").read()
    for need in ("<html lang=\"ja\">", "@page { size: A4", "Noto Sans CJK JP", "IPAexGothic",
                 "thead { display: table-header-group; }"):
        if need not in s:
            err("html lacks %r" % need)
    for cid in exp["ids"]:
        if ">%s" % cid not in s:
            err("html lacks row %s" % cid)
            break
    bad = exp.get("must_escape")
    if bad:
        if bad in s:
            err("html contains unescaped %r" % bad)
        esc = bad.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        if esc not in s:
            err("html lacks the escaped form %r" % esc)


def check_md(path, exp):
    s = open(path, encoding="utf-8").read()
    if not s.startswith("# FISC 安全対策基準 対応表"):
        err("markdown title missing")
    for cid in exp["ids"]:
        if "| %s" % cid not in s:
            err("markdown lacks row %s" % cid)
            break
    bad = exp.get("must_escape")
    if bad and bad in s:
        err("markdown contains unescaped %r" % bad)


def walk_uuids(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "uuid":
                out.append(v)
            walk_uuids(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_uuids(v, out)


def need(obj, keys, where):
    for k in keys:
        if k not in obj:
            err("%s: required key %r missing" % (where, k))
            return False
    return True


def check_metadata(md, where):
    if need(md, ["title", "last-modified", "version", "oscal-version"], where + ".metadata"):
        if not DATETIME_TZ.match(md["last-modified"]):
            err("%s: last-modified %r is not a date-time with time zone" % (where, md["last-modified"]))
        if not md["oscal-version"].startswith("1.1."):
            err("%s: oscal-version %r" % (where, md["oscal-version"]))
        for r in md.get("roles", []):
            if not token_ok(r.get("id", "")):
                err("%s: role id %r" % (where, r.get("id")))


def check_uuids(doc, where):
    uu = []
    walk_uuids(doc, uu)
    for u in uu:
        if not isinstance(u, str) or not UUID4.match(u):
            err("%s: %r is not a v4 UUID" % (where, u))
    if len(set(uu)) != len(uu):
        err("%s: duplicate UUIDs" % where)
    return len(uu)


def check_oscal_cd(path, exp):
    doc = json.load(open(path, encoding="utf-8"))
    if list(doc) != ["component-definition"]:
        err("oscal-cd: root must be component-definition")
        return
    cd = doc["component-definition"]
    need(cd, ["uuid", "metadata"], "component-definition")
    check_metadata(cd["metadata"], "component-definition")
    ids = []
    resources = {r["uuid"] for r in cd.get("back-matter", {}).get("resources", [])}
    for comp in cd.get("components", []):
        need(comp, ["uuid", "type", "title", "description"], "component")
        for ci in comp.get("control-implementations", []):
            if need(ci, ["uuid", "source", "description", "implemented-requirements"], "control-implementation"):
                if ci["source"].startswith("#") and ci["source"][1:] not in resources:
                    err("control-implementation source %r is not a back-matter resource" % ci["source"])
                for ir in ci["implemented-requirements"]:
                    if need(ir, ["uuid", "control-id", "description"], "implemented-requirement"):
                        if not token_ok(ir["control-id"]):
                            err("control-id %r is not a token" % ir["control-id"])
                        if not ir["description"]:
                            err("empty description for %s" % ir["control-id"])
                        for p in ir.get("props", []):
                            need(p, ["name", "value"], "prop")
                        ids.append(ir["control-id"])
    if exp.get("provider_ids") is not None and ids != exp["provider_ids"]:
        err("oscal-cd control-ids (%d) differ from the provider's responsibilities (%d)"
            % (len(ids), len(exp["provider_ids"])))
    if check_uuids(doc, "oscal-cd") == 0:
        err("oscal-cd has no uuids")


def check_oscal_ar(path, exp):
    doc = json.load(open(path, encoding="utf-8"))
    if list(doc) != ["assessment-results"]:
        err("oscal-ar: root must be assessment-results")
        return
    ar = doc["assessment-results"]
    need(ar, ["uuid", "metadata", "import-ap", "results"], "assessment-results")
    check_metadata(ar["metadata"], "assessment-results")
    need(ar["import-ap"], ["href"], "import-ap")
    if not ar.get("results"):
        err("results must not be empty")
    for res in ar.get("results", []):
        need(res, ["uuid", "title", "description", "start", "reviewed-controls"], "result")
        if not DATETIME_TZ.match(res.get("start", "")):
            err("result start %r" % res.get("start"))
        if not res["reviewed-controls"].get("control-selections"):
            err("reviewed-controls needs control-selections")
        obs = {}
        for o in res.get("observations", []):
            if need(o, ["uuid", "description", "methods", "collected"], "observation"):
                if not o["methods"] or not set(o["methods"]) <= {"EXAMINE", "INTERVIEW", "TEST", "UNKNOWN"}:
                    err("observation methods %r" % o["methods"])
                if not DATETIME_TZ.match(o["collected"]):
                    err("observation collected %r" % o["collected"])
                obs[o["uuid"]] = o
        states = {}
        for f in res.get("findings", []):
            if need(f, ["uuid", "title", "description", "target"], "finding"):
                t = f["target"]
                if need(t, ["type", "target-id", "status"], "finding.target"):
                    if t["type"] not in ("statement-id", "objective-id"):
                        err("finding target type %r" % t["type"])
                    if not token_ok(t["target-id"]):
                        err("target-id %r" % t["target-id"])
                    if t["status"].get("state") not in ("satisfied", "not-satisfied"):
                        err("finding state %r" % t["status"])
                    states[t["target-id"]] = t["status"]["state"]
                for ro in f.get("related-observations", []):
                    if ro.get("observation-uuid") not in obs:
                        err("finding refers to unknown observation %r" % ro)
        for cid, st in exp.get("evidence", {}).items():
            want = {"pass": "satisfied", "fail": "not-satisfied", "error": "not-satisfied"}.get(st)
            if want and states.get(cid) != want:
                err("finding for %s: %r != %r" % (cid, states.get(cid), want))
        if exp.get("checks") is not None:
            got = sorted(o["title"] for o in obs.values())
            if got != sorted(exp["checks"]):
                err("observations %r != checks %r" % (got, exp["checks"]))
    check_uuids(doc, "oscal-ar")


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    kind, path, expected = sys.argv[1:]
    exp = json.load(open(expected, encoding="utf-8"))
    {"csv": check_csv, "xlsx": check_xlsx, "html": check_html, "md": check_md,
     "oscal-cd": check_oscal_cd, "oscal-ar": check_oscal_ar}[kind](path, exp)
    for e in errors[:20]:
        print("check_report %s: %s" % (kind, e), file=sys.stderr)
    if len(errors) > 20:
        print("check_report %s: ... %d more" % (kind, len(errors) - 20), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
