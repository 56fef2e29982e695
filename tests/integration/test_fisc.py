"""FISC integration test: the real mamorid and mamori CLI over /v1/fisc/...

A user-supplied edition file replaces the built-in 13th edition (and a broken
one stops the daemon from starting, naming the file); the catalog, edition
diff and validation; a full 12th-edition table generated here is imported
through the CLI and read back from the CSV and XLSX reports cell by cell
(tests/compliance/check_report.py); bad CSV files are rejected with every
problem's line and nothing imported; the author cannot approve, a second administrator can (four eyes);
evidence evaluation, coverage and every report format; authentication and
input errors. Python 3 standard library only.
"""
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import urllib.parse

from harness import Daemon, check, finish

SRC = os.environ.get("MAMORI_SRC", os.path.join(os.path.dirname(__file__), "../.."))
sys.path.insert(0, os.path.join(SRC, "tests", "compliance"))
import check_report  # noqa: E402

MARKS = [("主体", "Primary"), ("一部", "Partial"), ("対象外", "Not applicable"), ("お客様対応", "Customer")]
PARTIES = ["fi", "provider", "cloud"]

USER_13 = {
    "format": "mamori-fisc-catalog", "format_version": 1, "edition": 13,
    "title_ja": "第13版（利用者提供の完全版）", "title_en": "13th edition (user's complete file)",
    "published": "2025-03", "complete": True, "categories_listed": ["統", "実", "設", "監"],
    "applicability": {"specific": "required", "normal": "risk_based", "source": "u"},
    "sources": {"u": {"ja": "利用者の完全版", "en": "user's complete edition"}},
    "criteria": [
        {"id": "実1", "category": "実", "title_ja": "パスワード", "title_en": "Passwords",
         "title_kind": "paraphrase", "title_source": "u", "status": "active", "source": "u"},
        {"id": "統1", "category": "統", "title_ja": "方針", "title_en": "Policy",
         "title_kind": "paraphrase", "title_source": "u", "status": "active", "source": "u"},
    ],
}


def gen_table(criteria):
    """A full table: every non-retired criterion, three parties, tricky text."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["基準番号", "対応者", "区分", "対応内容", "response_en"])
    cells = {}
    for i, c in enumerate(criteria):
        if c["status"] == "retired":
            continue
        row = {}
        for p, party in enumerate(PARTIES):
            ja_mark, en_mark = MARKS[(i + p) % 4]
            if ja_mark == "対象外" and i % 3 == 0:
                ja = ""
            elif i % 5 == 0:
                ja = '%s の対応（%s）、"引用", カンマ\n二行目 <b>太字</b>' % (c["id"], party)
            else:
                ja = "%s について%sが対応します。" % (c["id"], party)
            en = ("%s: %s, see \"manual\"" % (c["id"], party)) if i % 2 == 0 else ""
            w.writerow([c["id"], party, ja_mark, ja, en])
            row[party] = ["%s / %s" % (ja_mark, en_mark), ja, en]
        cells[c["id"]] = row
    return "\ufeff" + out.getvalue(), cells


def main():
    tmp = tempfile.mkdtemp(prefix="mamori-fisc-it-")
    edir = os.path.join(tmp, "editions")
    os.makedirs(edir)

    # A broken edition file stops the daemon, naming the file and entry.
    bad = dict(USER_13)
    bad["criteria"] = USER_13["criteria"] + [dict(USER_13["criteria"][0])]
    with open(os.path.join(edir, "edition-13.json"), "w", encoding="utf-8") as f:
        json.dump(bad, f, ensure_ascii=False)
    d = Daemon(config_text='[log]\nlevel = "warn"\n[fisc]\nedition_dir = "%s"\n' % edir)
    try:
        d.start()
        check(False, "daemon must refuse a broken edition file")
    except RuntimeError as e:
        check("edition-13.json" in str(e) and "duplicate criterion ID" in str(e),
              "start-up error names the file and the problem: %s" % e)
    finally:
        d.cleanup()

    with open(os.path.join(edir, "edition-13.json"), "w", encoding="utf-8") as f:
        json.dump(USER_13, f, ensure_ascii=False)
    d = Daemon(config_text='[log]\nlevel = "warn"\n[fisc]\nedition_dir = "%s"\n' % edir)
    try:
        d.start()
        tok = d.init_admin("admin")

        # Authentication and authorisation.
        st, body, _ = d.http("GET", "/v1/fisc/docs")
        check(st == 401, "no token -> 401 (%d)" % st)

        # Catalog: built-in 9 and 12, user-supplied complete 13.
        rc, eds, err = d.cli_json("fisc", "editions")
        check(rc == 0, "fisc editions: %s" % err)
        by = {e["edition"]: e for e in eds["editions"]}
        check(sorted(by) == [9, 12, 13], "editions 9, 12, 13: %r" % sorted(by))
        check(by[13]["complete"] and by[13]["origin"].endswith("edition-13.json")
              and by[13]["counts"]["実"]["active"] == 1, "edition 13 replaced by the user's file")
        check(not by[9]["complete"] and by[12]["complete"], "built-in completeness flags")
        rc, out, err = d.cli("fisc", "diff", "--from", "9", "--to", "12")
        check(rc == 0 and "実127" in out and "統27" in out, "edition diff 9 -> 12 in text: %s" % out)
        rc, dj, err = d.cli_json("fisc", "diff", "--from", "12", "--to", "13")
        check(rc == 0 and "実2" in dj["retired"], "diff against the user's 13th edition")
        vf = os.path.join(tmp, "v.json")
        with open(vf, "w", encoding="utf-8") as f:
            json.dump(USER_13, f, ensure_ascii=False)
        rc, out, err = d.cli("fisc", "edition", "validate", vf)
        check(rc == 0 and "valid edition 13" in out, "validate a good edition file: %s %s" % (out, err))
        with open(vf, "w") as f:
            f.write('{"format": "something else"}')
        rc, out, err = d.cli("fisc", "edition", "validate", vf)
        check(rc == 2 and "format" in err, "validate a bad edition file -> exit 2: %s" % err)

        st, e12, _ = d.http("GET", "/v1/fisc/editions/12", token=tok)
        check(st == 200 and len(e12["criteria"]) == 316, "edition 12 criteria: %d" % len(e12.get("criteria", [])))

        # A full 12th-edition table through the CLI.
        rc, out, err = d.cli("fisc", "doc", "create", "svc-12", "--edition", "12",
                             "--title", "テストサービス 対応表")
        check(rc == 0, "doc create: %s" % err)
        text, cells = gen_table(e12["criteria"])
        full = os.path.join(tmp, "full.csv")
        with open(full, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        rc, imp, err = d.cli_json("fisc", "import", "svc-12", full, "--replace")
        ncells = sum(len(v) for v in cells.values())
        check(rc == 0 and imp["rows"] == ncells, "import %d cells: %r %s" % (ncells, imp, err))

        # Bad CSV: every problem with its line, exit 2, nothing imported.
        badcsv = os.path.join(tmp, "bad.csv")
        with open(badcsv, "w", encoding="utf-8", newline="") as f:
            f.write("id,party,mark,response_ja\r\n"
                    "実1,fi,主体,上書きされない\r\n"
                    "実999,fi,主体,x\r\n"
                    "実2,provider,\"複数\n行\",x\r\n"
                    "実1,fi,一部,dup\r\n"
                    "実3,fi,主体,a\"b\r\n")
        rc, out, err = d.cli("fisc", "import", "svc-12", badcsv)
        check(rc == 2, "bad CSV -> exit 2 (%d)" % rc)
        for needle in ("bad.csv:3: unknown criterion '実999'", "bad.csv:4: unknown mark",
                       "bad.csv:6: duplicate response for 実1 (fi), first on line 2",
                       "bad.csv:7: a quote inside an unquoted field"):
            check(needle in err, "import problem reported: %s in %s" % (needle, err))
        st, body, _ = d.http("POST", "/v1/fisc/docs/svc-12/import", token=tok,
                             raw=open(badcsv, "rb").read(), headers={"Content-Type": "text/csv"})
        check(st == 400 and body["error"]["code"] == "invalid_argument"
              and [p["line"] for p in body["problems"]] == [3, 4, 6, 7],
              "HTTP 400 lists problems by line: %r" % (body,))

        # One cell by HTTP with a percent-encoded Japanese ID and full-width digits.
        path = "/v1/fisc/docs/svc-12/responses/%s/provider" % urllib.parse.quote("実１０")
        st, body, _ = d.http("PUT", path, token=tok, body={"mark": "主体", "text_ja": "監査ログを保管し点検",
                                                           "text_en": "Audit logs are kept"})
        check(st == 200 and body["id"] == "実10", "PUT response: %d %r" % (st, body))
        cells["実10"]["provider"] = ["主体 / Primary", "監査ログを保管し点検", "Audit logs are kept"]
        st, body, _ = d.http("PUT", path, token=tok, body={"mark": "たぶん", "text_ja": "x"})
        check(st == 400, "bad mark -> 400")
        st, body, _ = d.http("PUT", "/v1/fisc/docs/nope/responses/%E5%AE%9F1/fi", token=tok,
                             body={"mark": "主体", "text_ja": "x"})
        check(st == 404, "unknown doc -> 404 (%d)" % st)
        st, body, _ = d.http("PUT", "/v1/fisc/docs/svc-12/responses/%E5%AE%9F127/fi", token=tok,
                             body={"mark": "主体", "text_ja": "x"})
        check(st == 400 and "retired" in body["error"]["message"], "retired ID -> 400")

        # Four eyes: the only user wrote the draft, so approval is refused.
        rc, out, err = d.cli("fisc", "approve", "svc-12")
        check(rc == 1 and "second person" in err, "author cannot approve: %d %s" % (rc, err))
        rc, out, err = d.cli("fisc", "publish", "svc-12", "--summary", "x")
        check(rc == 1 and "approved" in err, "publish needs approval: %s" % err)

        # Evidence and coverage.
        rc, ev, err = d.cli_json("fisc", "evaluate")
        res = {r["check"]: r["result"] for r in ev["results"]} if rc == 0 else {}
        check(res.get("audit.log_verifiable") == "pass", "audit log verifies: %r" % res)
        check(res.get("tls.configured") == "not_applicable", "loopback without TLS: n/a")
        check(res.get("access.no_standing_privilege") == "pass",
              "access check evaluated (one administrator, no standing privileged role): %r"
              % res.get("access.no_standing_privilege"))
        check(res.get("keys.rotated") == "not_applicable", "no named keys yet: n/a (%r)" % res.get("keys.rotated"))
        rc, cov, err = d.cli_json("fisc", "coverage", "svc-12", "--version", "working")
        check(rc == 0 and cov["responsible"] > 100 and cov["with_evidence"] >= 1,
              "coverage: %r" % ({k: cov.get(k) for k in ("responsible", "with_evidence")} if cov else err))

        # Reports: every format; CSV and XLSX read back cell by cell.
        exp = {"ids": [c["id"] for c in e12["criteria"]],
               "titles": {c["id"]: [c["title_ja"], c["title_en"]] for c in e12["criteria"]},
               "cells": cells, "must_escape": "<b>太字</b>"}
        for fmt, name, kind in (("csv", "r.csv", "csv"), ("xlsx", "r.xlsx", "xlsx"),
                                ("html", "r.html", "html"), ("md", "r.md", "md")):
            out_path = os.path.join(tmp, name)
            rc, out, err = d.cli("fisc", "report", "--edition", "12", "--format", fmt,
                                 "--version", "working", "--out", out_path)
            check(rc == 0 and os.path.getsize(out_path) > 0, "report %s: %s" % (fmt, err))
            check_report.errors.clear()
            getattr(check_report, "check_" + kind)(out_path, exp)
            check(not check_report.errors, "report %s reads back: %s" % (fmt, check_report.errors[:3]))
        oscal = os.path.join(tmp, "oscal.json")
        rc, out, err = d.cli("fisc", "report", "--edition", "12", "--format", "oscal",
                             "--version", "working", "--out", oscal)
        check(rc == 0, "report oscal: %s" % err)
        check_report.errors.clear()
        check_report.check_oscal_cd(oscal, {})
        check_report.check_oscal_ar(os.path.join(tmp, "oscal.ar.json"), {})
        check(not check_report.errors, "OSCAL documents: %s" % check_report.errors[:3])
        st, body, hdr = d.http("GET", "/v1/fisc/report?edition=12&format=xlsx&version=working", token=tok)
        check(st == 200 and "spreadsheetml" in hdr.get("Content-Type", "")
              and "fisc-12.xlsx" in hdr.get("Content-Disposition", ""), "XLSX over HTTP")
        st, body, _ = d.http("GET", "/v1/fisc/report?edition=12&format=pdf", token=tok)
        check(st == 400, "unknown format -> 400")
        st, body, _ = d.http("GET", "/v1/fisc/report?edition=12&format=md", token=tok)
        check(st == 404 and "no published version" in body["error"]["message"],
              "latest published of an unpublished table -> 404: %r" % (body,))
        st, body, _ = d.http("GET", "/v1/fisc/report?edition=13&format=md", token=tok)
        check(st == 200 and "blank template" in body, "template for an edition without a table")

        # History and version reads.
        rc, out, err = d.cli("fisc", "history", "svc-12")
        check(rc == 0 and "v1" in out and "draft" in out, "history: %s" % out)
        rc, v, err = d.cli_json("fisc", "show", "svc-12", "--version", "working")
        check(rc == 0 and len(v["responses"]) == ncells, "show working version")
        rc, out, err = d.cli("fisc", "docs")
        check(rc == 0 and "svc-12" in out, "docs list")
        rc, out, err = d.cli("fisc", "checks")
        check(rc == 0 and "keys.rotated" in out and "registered" in out, "checks list")
        rc, out, err = d.cli("fisc", "report", "--edition", "12")
        check(rc == 2, "report without --out -> usage error")

        # Four eyes over HTTP: a second administrator approves, then publishes;
        # the published version is what the default report shows.
        bob = d.add_user("bob", ["admin"], enrol=False)  # no seal here: TOTP not enforced
        check(bob is not None, "second administrator signed in")
        rc, out, err = d.cli("fisc", "approve", "svc-12", token=bob)
        check(rc == 0, "a second person approves: %s %s" % (out, err))
        rc, out, err = d.cli("fisc", "publish", "svc-12", "--summary", "第12版 初版", token=bob)
        check(rc == 0, "publish after approval: %s %s" % (out, err))
        rc, out, err = d.cli("fisc", "history", "svc-12")
        check(rc == 0 and "第12版 初版" in out, "history shows the published version: %s" % out)
        st, body, _ = d.http("GET", "/v1/fisc/report?edition=12&format=md", token=tok)
        check(st == 200 and "実1" in body, "report of the published version")
    finally:
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
