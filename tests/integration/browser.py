# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML report in a real browser: Debian's chromium, headless.

``render`` loads a file the way a person opens it (file://) and returns what the browser made of it: the DOM after
parsing, the requests the page attempted (from chromium's NetLog: every request whose network isolation key is the
page's file:// origin - chromium's own background requests have none), and the console's Content-Security-Policy
messages. Nothing can leave the machine: every request chromium makes goes to a proxy on 127.0.0.1:9, where
nothing listens, and no host name resolves. ``snapshot`` saves a screenshot and a PDF as test artefacts.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Test artefacts (screenshots, PDFs): tests/output, kept after the run (not in git).
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "output")
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-features=SpellCheck,Translate,OptimizationHints,MediaRouter",
    # nothing leaves the machine, whatever chromium or the page asks for
    "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
]


def _chromium(args, timeout=120):
    profile = tempfile.mkdtemp(prefix="mailops-chromium-")
    try:
        return subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + profile] + args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_requests(netlog_path):
    """The URLs the page itself attempted to fetch, from a chromium NetLog."""
    with open(netlog_path) as handle:
        log = json.load(handle)
    types = dict((number, name) for name, number in log["constants"]["logEventTypes"].items())
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if types.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params \
                and params.get("network_isolation_key", "").startswith("file://"):
            urls.append(params["url"])
    return urls


def render(path):
    """{"dom": the serialised DOM, "requests": URLs the page attempted, "csp": the console's CSP messages}."""
    workdir = tempfile.mkdtemp(prefix="mailops-render-")
    try:
        netlog = os.path.join(workdir, "netlog.json")
        proc = _chromium(["--log-net-log=" + netlog, "--enable-logging=stderr", "--v=0", "--dump-dom",
                          "file://" + os.path.abspath(path)])
        return {"dom": proc.stdout, "requests": page_requests(netlog),
                "csp": [line for line in proc.stderr.splitlines() if "Content Security Policy" in line]}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def snapshot(path, name):
    """A screenshot (1280 px wide) and a PDF of the page, in tests/output/NAME.png and NAME.pdf; their paths."""
    os.makedirs(OUTPUT, exist_ok=True)
    png, pdf = os.path.join(OUTPUT, name + ".png"), os.path.join(OUTPUT, name + ".pdf")
    url = "file://" + os.path.abspath(path)
    _chromium(["--window-size=1280,2400", "--hide-scrollbars", "--screenshot=" + png, url])
    _chromium(["--no-pdf-header-footer", "--print-to-pdf=" + pdf, url])
    for made in (png, pdf):
        assert os.path.getsize(made) > 10000, made
    return png, pdf


class _Tables(HTMLParser):
    """Every table of a document: {"caption", "header": [cells], "rows": [[cells]]}, cells as text."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.tables, self._cell, self._row, self._in_caption = [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": []})
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            table = self.tables[-1]
            if not table["header"]:
                table["header"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._in_caption and self.tables:
            self.tables[-1]["caption"] += data
        elif self._cell is not None:
            self._cell.append(data)


def tables(dom):
    parser = _Tables()
    parser.feed(dom)
    return parser.tables


def cards(dom):
    """The totals cards: {label: number}."""
    return dict((label.strip(), int(value)) for value, label in
                re.findall(r'<div class="card[^"]*"><span class="n">(\d+)</span>([^<]*)</div>', dom))


def _importable():
    """The collection under test importable here (the Makefile puts its build on ANSIBLE_COLLECTIONS_PATH)."""
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        if path and path not in sys.path:
            sys.path.append(path)


def detector_works(path):
    """The request check can fail: the same page with an image from 192.0.2.1 (TEST-NET, sent to the closed loopback
    proxy) is seen requesting it once its CSP is removed, and, with the CSP kept, blocked and logged as a violation."""
    with open(path) as handle:
        page = handle.read()
    bait = '<img src="http://192.0.2.1/bait.png" alt="bait">'
    workdir = tempfile.mkdtemp(prefix="mailops-bait-")
    try:
        kept = os.path.join(workdir, "csp.html")
        with open(kept, "w") as handle:
            handle.write(page.replace("<main>", "<main>" + bait, 1))
        stripped = os.path.join(workdir, "no-csp.html")
        with open(stripped, "w") as handle:
            handle.write(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.replace(
                "<main>", "<main>" + bait, 1)))
        with_csp, without = render(kept), render(stripped)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert with_csp["requests"] == [] and any("192.0.2.1" in line for line in with_csp["csp"]), with_csp
    assert "http://192.0.2.1/bait.png" in without["requests"], without["requests"]


def check_report(report_dir, report, name):
    """The fleet report of REPORT_DIR in chromium: the DOM's totals and per-host figures are report.json's, the page
    attempted no request and broke no CSP rule; a screenshot and a PDF saved as NAME. Returns their paths."""
    _importable()
    from ansible_collections.mailops.postfix.plugins.plugin_utils._report import PHASE_FIGURES
    path = os.path.join(report_dir, "report.html")
    seen = render(path)
    assert seen["requests"] == [] and seen["csp"] == [], (seen["requests"], seen["csp"])
    detector_works(path)
    dom = seen["dom"]
    phases = report["total"]["phases"]
    shown = cards(dom)
    expected = {"hosts verified": report["host_status"].get("verified", 0),
                "incident windows still open": sum(1 for e in report["hosts"].values() if e.get("window_open"))}
    for key, label in (("purged", "junk purged"), ("archived", "archived first"), ("requeued", "legitimate released"),
                       ("on_hold_before", "quarantine kept on hold"), ("junk_left", "junk left")):
        if key in phases:
            expected[label] = phases[key]
    assert dict((label, shown.get(label)) for label in expected) == expected, (shown, expected)
    per_host = [t for t in tables(dom) if t["caption"] == "What each phase did on each host"]
    assert len(per_host) == 1, [t["caption"] for t in tables(dom)]
    table = per_host[0]
    labels = dict((label, key) for key, _fact, _field, label in PHASE_FIGURES)
    columns = [(index, labels[label]) for index, label in enumerate(table["header"]) if label in labels]
    assert columns, table["header"]
    rows = dict((row[0], row) for row in table["rows"])
    assert sorted(rows) == sorted(list(report["hosts"]) + ["total"]), sorted(rows)
    for host, entry in list(report["hosts"].items()) + [("total", report["total"])]:
        for index, key in columns:
            value = entry["phases"].get(key)
            assert rows[host][index] == ("-" if value is None else str(value)), (host, key, rows[host][index], value)
    return snapshot(path, name)
