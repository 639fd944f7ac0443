# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The fleet report and the runbook's plan as one self-contained HTML file, for the person who decides or approves.

Controller-side, PURE, stdlib only: from the same data as report.json / plan.json. One file - inline CSS and SVG,
no JavaScript, and a Content-Security-Policy that forbids every request (no font, image, style sheet or script
can be fetched, even if a value tried). Every value that came from a queue (a Subject, a sender, a login) is
escaped: it renders as text. The order follows the plan renderers people like: the totals first, failures and open
windows impossible to miss with the command that ends them, then per host, then the details. Readable printed
and on a phone; tables have header cells, every chart has a text alternative and its numbers in a table, and
colour is never the only signal (each status also has a word and a symbol).
"""

from __future__ import absolute_import, division, print_function

import html
import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.mailops.postfix.plugins.plugin_utils._report import PHASE_FIGURES, origins_read

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
# At most this many hosts' own "who is sending" tables in report.html (all of them are in report.json).
PER_HOST_ORIGINS = 50
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")
# Status -> (symbol, class): the symbol and the word carry the meaning; the colour only repeats it.
STATUS = {"verified": (u"\u2714", "good"), "unaffected": (u"\u2714", "good"), "check mode": (u"\u2139", "info"),
          "planned": (u"\u2139", "info"), "assessed": (u"\u2139", "info"), "partial": (u"\u2716", "bad"),
          "verification failed": (u"\u2716", "bad"), "no result": (u"\u2716", "bad")}

_CSS = u"""
:root { color-scheme: light; --good: #1a7f37; --bad: #b42318; --warn: #9a6700; --info: #0b5cad; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
.meta { color: #57606a; margin: 0 0 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: .6rem; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.card .n { display: block; font-size: 1.6rem; font-weight: 600; }
.card.bad { border: 2px solid var(--bad); } .card.good { border-left: 6px solid var(--good); }
.alert { border: 2px solid var(--bad); background: #fff5f5; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.alert h2 { border: 0; margin-top: .2rem; color: var(--bad); }
.note { border-left: 4px solid var(--warn); padding: .4rem .8rem; background: #fffbe6; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num, th.num { text-align: right; }
.status { font-weight: 600; white-space: nowrap; }
.status.good { color: var(--good); } .status.bad { color: var(--bad); } .status.info { color: var(--info); }
code, .cmd { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; overflow-wrap: anywhere; }
.cmd { display: block; background: #f6f8fa; border: 1px solid var(--line); padding: .4rem; border-radius: 4px; }
.heat td.num { min-width: 3rem; } small { color: #57606a; }
svg text { font: 12px system-ui, sans-serif; fill: #1f2328; }
details summary { cursor: pointer; }
@media (max-width: 600px) { body { font-size: 14px; padding: .5rem; } .card .n { font-size: 1.3rem; } }
@media print {
  body { max-width: none; padding: 0; } .wrap { overflow: visible; } a { color: inherit; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  table, .card, .alert, figure { break-inside: avoid; } h2 { break-after: avoid; }
}
"""


def esc(value: Any) -> str:
    """A value as HTML text: None as a dash, everything else escaped (quotes too)."""
    if value is None:
        return u"-"
    return html.escape(u"%s" % (value,), quote=True)


def _status(status: str) -> str:
    symbol, kind = STATUS.get(status, (u"\u2139", "info"))
    return u'<span class="status %s">%s %s</span>' % (kind, symbol, esc(status))


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (),
           css: str = "") -> str:
    """A real table: a caption, header cells with scope, the first cell of each row a row header."""
    out = [u'<div class="wrap"><table%s><caption>%s</caption><thead><tr>' % (' class="%s"' % css if css else "", esc(caption))]
    out += [u'<th scope="col"%s>%s</th>' % (' class="num"' if index in numeric else "", esc(label))
            for index, label in enumerate(header)]
    out.append(u"</tr></thead><tbody>")
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            raw = isinstance(value, _Raw)
            text = value.html if raw else esc(value)
            if index == 0:
                cells.append(u'<th scope="row">%s</th>' % text)
            else:
                cells.append(u'<td%s>%s</td>' % (' class="num"' if index in numeric else "", text))
        out.append(u"<tr>%s</tr>" % u"".join(cells))
    out.append(u"</tbody></table></div>")
    return u"".join(out)


class _Raw(object):
    """Markup the renderer built itself (already escaped)."""

    def __init__(self, markup: str) -> None:
        self.html = markup


def _card(label: str, value: Any, kind: str = "") -> str:
    return u'<div class="card %s"><span class="n">%s</span>%s</div>' % (kind, esc(value), esc(label))


def _queues_text(summary: Any) -> str:
    if not summary:
        return u"-"
    if isinstance(summary, int):
        return u"%d" % summary
    parts = [u"%s %d" % (name, counts["messages"]) for name, counts in summary.get("by_queue", {}).items()]
    return u"%d (%s)" % (summary["total"], u", ".join(parts)) if parts else u"0"


def _queues_cell(summary: Any) -> "_Raw":
    """A queue summary in a table cell: the total, and per queue below it in small print."""
    if not isinstance(summary, dict) or not summary.get("by_queue"):
        return _Raw(esc(_queues_text(summary)))
    parts = u", ".join(u"%s %d" % (esc(name), counts["messages"]) for name, counts in summary["by_queue"].items())
    return _Raw(u"%d<br><small>%s</small>" % (summary["total"], parts))


def _bars(title: str, series: List[Any]) -> str:
    """Grouped horizontal bars (before/after per queue) as inline SVG with a text alternative; ``series`` is
    [(queue, before, after)]. The numbers are also in the table that follows it."""
    series = [row for row in series if row[1] or row[2]]
    if not series:
        return u""
    top = max(max(before or 0, after or 0) for _queue, before, after in series) or 1
    width, label_width, bar_height = 520, 90, 12
    height = len(series) * (2 * bar_height + 10) + 24
    described = u"; ".join(u"%s: %s before, %s after" % (queue, before, "-" if after is None else after)
                           for queue, before, after in series)
    out = [u'<figure><svg role="img" aria-labelledby="bars-t bars-d" width="100%%" style="max-width: %dpx" viewBox="0 0 %d %d" '
           u'xmlns="http://www.w3.org/2000/svg"><title id="bars-t">%s</title><desc id="bars-d">%s</desc>'
           % (width, width, height, esc(title), esc(described))]
    y = 4
    for queue, before, after in series:
        out.append(u'<text x="0" y="%d">%s</text>' % (y + bar_height + 2, esc(queue)))
        for value, shade, name in ((before, "#8c959f", "before"), (after, "#0b5cad", "after")):
            length = 0 if not value else max(1, int((width - label_width - 70) * value / float(top)))
            out.append(u'<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %s</title></rect>'
                       % (label_width, y, length, bar_height, shade, esc(queue), name, "-" if value is None else value))
            shown = "-" if value is None else value
            out.append(u'<text x="%d" y="%d">%s %s</text>' % (label_width + length + 4, y + bar_height - 2, shown, name))
            y += bar_height + 2
        y += 6
    out.append(u'<text x="0" y="%d">grey: before, blue: after (also labelled on each bar)</text></svg></figure>' % (y + 12))
    return u"".join(out)


def _heat(rows: List[Any], labels: List[str]) -> str:
    """A qshape-style table: rows by age bucket, the cell's shade (and its number) by its share of the row."""
    out = [u'<div class="wrap"><table class="heat"><caption>Messages by age (minutes, at most), as qshape shows them'
           u'</caption><thead><tr><th scope="col">host</th>']
    out += [u'<th scope="col" class="num">%s</th>' % esc(label) for label in labels]
    out.append(u"</tr></thead><tbody>")
    for name, counts in rows:
        total = float(sum(counts)) or 1.0
        cells = []
        for count in counts:
            share = count / total
            cells.append(u'<td class="num" style="background: rgba(180,35,24,%.2f)">%d</td>' % (0.08 + 0.5 * share if count else 0, count))
        out.append(u'<tr><th scope="row">%s</th>%s</tr>' % (esc(name), u"".join(cells)))
    out.append(u"</tbody></table></div>")
    return u"".join(out)


def _age_rows(report: Dict[str, Any]) -> Tuple[List[Any], List[str]]:
    rows, labels = [], []
    for host in sorted(report["hosts"]):
        before = report["hosts"][host].get("before")
        if isinstance(before, dict) and before.get("age_buckets"):
            labels = [bucket["label"] for bucket in before["age_buckets"]]
            rows.append((host, [bucket["messages"] for bucket in before["age_buckets"]]))
    total = (report["total"] or {}).get("before")
    if isinstance(total, dict) and total.get("age_buckets") and rows:
        rows.append((u"fleet", [bucket["messages"] for bucket in total["age_buckets"]]))
    return rows, labels


def _origin_tables(origins: Optional[Dict[str, Any]], caption: str, say_sample: bool = True) -> str:
    origins = origins or {}
    sampled = say_sample and origins.get("sampled_from") is not None
    out = [u"<p>%s</p>" % esc(origins_read(origins))] if sampled else []
    for key, label, title in (("origins", "origin", "ways in"), ("top_sasl_usernames", "sasl_username", "SASL logins"),
                              ("top_clients", "client_address", "original clients"),
                              ("top_local_uids", "local_uid", "local uids (sendmail)"),
                              ("top_subjects", "subject", "Subjects")):
        rows = origins.get(key) or []
        if rows:
            out.append(_table(u"%s - %s" % (caption, title), [label, "messages", "bytes"],
                              [(row[label], row["messages"], row["bytes"]) for row in rows], numeric=(1, 2)))
    return u"".join(out)


def _document(title: str, body: str) -> str:
    return (u'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            u'<meta http-equiv="Content-Security-Policy" content="%s">'
            u'<meta name="viewport" content="width=device-width, initial-scale=1">'
            u'<meta name="referrer" content="no-referrer"><title>%s</title><style>%s</style></head>'
            u'<body><main>%s</main></body></html>\n' % (CSP, esc(title), _CSS, body))


def render_report(report: Dict[str, Any]) -> str:
    """The fleet report (fleet_report, or merge_reports of slices) as one HTML document."""
    hosts = report["hosts"]
    total = report["total"]
    phases = total.get("phases") or {}
    statuses = report.get("host_status") or {}
    failed = sorted(host for host, entry in hosts.items()
                    if STATUS.get(entry["status"], ("", "info"))[1] == "bad" or entry.get("problems"))
    open_windows = sorted(host for host, entry in hosts.items() if entry.get("window_open"))
    body = [u"<h1>%s</h1>" % esc(report["title"]),
            u'<p class="meta">Generated %s - %d hosts%s.</p>' % (
                esc(report["generated"]), total["hosts"],
                u", %d slices merged" % report["slices"] if report.get("slices") else u"")]
    body.append(u'<section aria-label="totals"><div class="cards">')
    body.append(_card(u"hosts verified", statuses.get("verified", 0), "good" if not failed else ""))
    body.append(_card(u"hosts failed, partial or with problems", len(failed), "bad" if failed else ""))
    for key, label in (("purged", "junk purged"), ("archived", "archived first"), ("requeued", "legitimate released"),
                       ("on_hold_before", "quarantine kept on hold"), ("junk_left", "junk left")):
        if key in phases:
            body.append(_card(label, phases[key], "bad" if key == "junk_left" and phases[key] else ""))
    body.append(_card(u"incident windows still open", len(open_windows), "bad" if open_windows else ""))
    body.append(u"</div></section>")
    if failed or open_windows:
        body.append(u'<section class="alert" aria-label="needs attention"><h2>\u26a0 Needs attention</h2><ul>')
        for host in sorted(set(failed) | set(open_windows)):
            entry = hosts[host]
            problems = u"; ".join(esc(problem) for problem in entry.get("problems") or []) or esc(
                u"the runbook did not finish here (%s)" % entry["status"])
            body.append(u"<li><strong>%s</strong> - %s: %s" % (esc(host), _status(entry["status"]), problems))
            if entry.get("window_open"):
                body.append(u'<span class="cmd">ansible-playbook mailops.postfix.end_window -i INVENTORY -l %s</span>'
                            % esc(host))
            body.append(u"</li>")
        body.append(u"</ul></section>")
    plans = sorted({entry.get("plan_id") for entry in hosts.values() if entry.get("plan_id")})
    if plans:
        body.append(u'<p class="note">Applied the approved plan %s.</p>' % u", ".join(u"<code>%s</code>" % esc(p) for p in plans))
    figures = [(key, label) for key, _fact, _field, label in PHASE_FIGURES
               if key in phases or any(key in entry["phases"] for entry in hosts.values())]
    body.append(u"<h2>Per host</h2>")
    rows = []
    for host in sorted(hosts):
        entry = hosts[host]
        rows.append([host, _Raw(_status(entry["status"])), _queues_cell(entry.get("before")),
                     _queues_cell(entry.get("after"))] + [entry["phases"].get(key) for key, _label in figures])
    rows.append([u"total", u"", _queues_cell(total.get("before")), _queues_cell(total.get("after"))]
                + [phases.get(key) for key, _label in figures])
    body.append(_table(u"What each phase did on each host", ["host", "status", "before", "after"]
                       + [label for _key, label in figures], rows, numeric=tuple(range(4, 4 + len(figures)))))
    guarded = [(host, row["source"], row["messages"], _Raw(u'<span class="cmd">%s</span>' % esc(row["release"])))
               for host in sorted(hosts) for row in hosts[host].get("guarded") or []]
    if guarded:
        body.append(u"<h2>Kept on hold by the release guard</h2><p>These sources are not in the junk but sent more "
                    u"during the incident window than the guard allows: their mail stays on hold. Check them; "
                    u"release a source with its command.</p>")
        body.append(_table(u"Sources kept on hold", ["host", "source", "messages on hold", "release with"], guarded,
                           numeric=(2,)))
    before, after = total.get("before"), total.get("after")
    if isinstance(before, dict):
        body.append(u"<h2>The fleet's queues, before and after</h2>")
        series = [(queue, (before.get("by_queue", {}).get(queue) or {}).get("messages", 0),
                   (after.get("by_queue", {}).get(queue) or {}).get("messages", 0) if isinstance(after, dict) else None)
                  for queue in QUEUES]
        body.append(_bars(u"Messages per queue, before and after the run", series))
        body.append(_table(u"Messages per queue", ["queue", "before", "after"],
                           [row for row in series if row[1] or row[2]], numeric=(1, 2)))
        heat_rows, labels = _age_rows(report)
        if heat_rows:
            body.append(u"<h3>Age of the queued mail before the run</h3>")
            body.append(_heat(heat_rows, labels))
    origins = total.get("origins")
    if origins:
        body.append(u"<h2>Who is sending</h2><p>Read from the queue files (%s): what to write "
                    u"<code>mailops_junk</code> with when the envelope sender is forged.</p>" % esc(origins_read(origins)))
        body.append(_origin_tables(origins, u"fleet", say_sample=False))   # the paragraph above says it
        per_host = [(host, hosts[host]["origins"]) for host in sorted(hosts) if hosts[host].get("origins")]
        if len(per_host) > 1:
            # the hosts that read the most first; past PER_HOST_ORIGINS of them, report.json has the rest (a report
            # of 2,000 hosts stays a file a browser opens at once)
            shown = sorted(per_host, key=lambda item: (-item[1].get("read", 0), item[0]))[:PER_HOST_ORIGINS]
            more = (u"<p>The %d other hosts' are in report.json.</p>" % (len(per_host) - len(shown))
                    if len(per_host) > len(shown) else u"")
            body.append(u"<details><summary>Per host%s</summary>%s%s</details>" % (
                u" (the %d that read the most)" % len(shown) if more else u"", u"".join(
                    u"<h3>%s</h3>%s" % (esc(host), _origin_tables(entry, host)) for host, entry in shown), more))
    if isinstance(before, dict):
        for key, label, title in (("top_senders", "sender", "Top envelope senders before"),
                                  ("top_recipient_domains", "domain", "Top recipient domains before")):
            if before.get(key):
                body.append(_table(title, [label, "messages"], [(row[label], row["messages"]) for row in before[key]],
                                   numeric=(1,)))
    archives = [(host, hosts[host].get("archive_dir"), hosts[host].get("fetched_to")) for host in sorted(hosts)
                if hosts[host].get("archive_dir")]
    if archives:
        body.append(u"<h2>Archives of purged mail</h2>")
        body.append(_table(u"Where each host's archive is", ["host", "on the host", "copied to the controller"], archives))
    notes = list(report.get("notes") or [])
    if report.get("audit_log"):
        notes.append(u"Audit log (one JSON line per host and action): %s" % report["audit_log"])
    if notes:
        body.append(u"<h2>Notes</h2><ul>%s</ul>" % u"".join(u"<li>%s</li>" % esc(note) for note in notes))
    return _document(report["title"], u"".join(body))


def render_plan(plan: Dict[str, Any], limit: int = 200) -> str:
    """The runbook's plan for review and approval, as one HTML document."""
    totals = plan["totals"]
    body = [u"<h1>%s</h1>" % esc(plan["title"]),
            u'<p class="meta">Plan <code>%s</code>, made %s by %s - <strong>not yet applied</strong>: approve it by giving '
            u'its ID to the apply run.</p>' % (esc(plan["plan_id"]), esc(plan.get("created")), esc(plan.get("operator"))),
            u'<span class="cmd">ansible-playbook mailops.postfix.cleanup -i INVENTORY -e mailops_mode=apply -e '
            u'mailops_plan_id=%s</span>' % esc(plan["plan_id"]),
            u'<section aria-label="totals"><div class="cards">']
    for key, label in (("hosts", "hosts"), ("hold", "to hold"), ("purge", "to purge (archived first)"),
                       ("requeue", "to release"), ("quarantine", "earlier hold, left alone")):
        body.append(_card(label, totals.get(key, 0)))
    body.append(u"</div></section>")
    if plan.get("hosts_without_plan"):
        body.append(u'<section class="alert"><h2>\u26a0 No plan for these hosts</h2><p>%s: unreachable or failed - the '
                    u'apply run refuses them.</p></section>' % esc(u", ".join(plan["hosts_without_plan"])))
    body.append(u'<p class="note"><strong>Mail that arrives during the run:</strong> %s</p>' % esc(plan["window_rule"]))
    body.append(u"<h2>Per host</h2>")
    header = ["host", "instance", "Postfix", "before", "earlier hold", "hold", "purge", "requeue"]
    body.append(_table(u"What the run will do on each host", header,
                       [(host, part["instance"]["config_dir"], part["postfix_version"], part["before"]["total"],
                         part["quarantine"], part["hold"]["count"], part["purge"]["count"], part["requeue"]["count"])
                        for host, part in sorted(plan["hosts"].items())], numeric=(3, 4, 5, 6, 7)))
    body.append(u"<h2>Inputs approved</h2>")
    body.append(_table(u"The runbook's inputs this plan records", ["variable", "value"],
                       [(name, _Raw(u"<code>%s</code>" % esc(_json(value)))) for name, value in sorted(plan["inputs"].items())]))
    for host, part in sorted(plan["hosts"].items()):
        if part.get("origins"):
            body.append(u"<h3>Who is sending on %s (as assessed)</h3>%s" % (esc(host), _origin_tables(part["origins"], host)))
    for host, part in sorted(plan["hosts"].items()):
        messages = (part["purge"]["plan"] or {}).get("messages") or []
        if not messages:
            continue
        shown = [(entry["queue_id"], entry["arrival_time"], entry["sender"], entry["recipients"], entry["message_size"])
                 for entry in messages[:limit]]
        more = u"<p>... %d more in plan.json</p>" % (len(messages) - limit) if len(messages) > limit else u""
        body.append(u"<details><summary>%s: the %d messages the purge deletes</summary>%s%s</details>" % (
            esc(host), len(messages), _table(u"Fingerprinted messages on %s" % host,
                                             ["queue ID", "arrival", "sender", "recipients", "size"], shown,
                                             numeric=(1, 3, 4)), more))
    return _document(plan["title"], u"".join(body))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
