# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.html's size and rendering time for fleets of 3, 50, 500 and 2,000 hosts.

Each host's facts are what a real run records: the assessment's summary of a real captured queue (Postfix 3.7.11),
who is sending (logins, clients, local uids, Subjects - ten rows each), a release-guard entry on every tenth host,
a failed verification on every fiftieth. Prints bytes per fleet and per host, and the rendering time (median of 3).

    make collection && .venv/ctl-2.21/bin/python bench/report_sizes.py     (MAILOPS_BUILD: another build directory)
"""

from __future__ import absolute_import, division, print_function

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("MAILOPS_BUILD") or os.path.join(os.path.dirname(HERE), ".build"))

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _summary  # noqa: E402
from ansible_collections.mailops.postfix.plugins.plugin_utils import _report, _report_html  # noqa: E402
from ansible_collections.mailops.postfix.tests.unit import captures  # noqa: E402

NOW = captures.CAPTURE_NOW


def _rows(label, names):
    return [{label: name, "messages": 100 - index, "bytes": 5000 * (100 - index)} for index, name in enumerate(names)]


def host_facts(summary, number):
    origins = {"read": summary["total"], "origins": _rows("origin", ["smtp", "local", "internal"]),
               "top_sasl_usernames": _rows("sasl_username", ["user%d@example.org" % i for i in range(10)]),
               "top_clients": _rows("client_address", ["198.51.100.%d" % i for i in range(10)]),
               "top_local_uids": _rows("local_uid", list(range(1000, 1010))),
               "top_subjects": _rows("subject", ["Subject number %d of the queue" % i for i in range(10)])}
    ok = number % 50 != 49
    guarded = {"sasl_username:temp%d@example.org" % number: 80} if number % 10 == 9 else {}
    return {"assess_result": {"summary": summary, "junk": 40, "postfix_version": "3.7.11", "origins": origins,
                              "on_hold_before": 2},
            "hold_result": {"held": summary["total"], "in_flight": 0},
            "hold_incident": {"window_open": False},
            "purge_result": {"purged": 40, "archived": 40, "archive_dir": "/var/backups/mailops/h/postfix/x"},
            "requeue_result": {"requeued": summary["total"] - 40,
                               "guarded": [{"source": s, "messages": n} for s, n in guarded.items()]},
            "verify_result": {"summary": _summary.summarize([], now=NOW), "delivered": 3, "remaining": 0,
                              "junk_left": 0, "ok": ok, "problems": [] if ok else ["a legitimate message is missing"],
                              "guarded": guarded}}


def main():
    summary = _summary.summarize(_listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout")),
                                 now=NOW)
    print("| hosts | report.html bytes | bytes per host | render s (median of 3) |")
    print("|---|---|---|---|")
    for count in (3, 50, 500, 2000):
        hosts = ["mx%04d.example.org" % number for number in range(count)]
        report = _report.fleet_report(dict((host, host_facts(summary, n)) for n, host in enumerate(hosts)), hosts,
                                      generated="2026-12-05T00:00:00Z")
        times = []
        for _round in range(3):
            started = time.perf_counter()
            text = _report_html.render_report(report)
            times.append(time.perf_counter() - started)
        size = len(text.encode("utf-8"))
        print("| %d | %d | %d | %.3f |" % (count, size, size // count, statistics.median(times)))


if __name__ == "__main__":
    main()
