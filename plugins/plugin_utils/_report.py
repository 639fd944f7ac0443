# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The fleet report: per-host results of the runbook's phases merged into one report.

Controller-side, PURE. The input is, per host, what the roles left as facts (``assess_result``,
``hold_result``, ``purge_result``, ``requeue_result``, ``verify_result``, and ``hold_incident``,
``requeue_incident`` or ``end_window_incident``: the incident after its window opened or ended); the
output is one JSON-ready dict; render_markdown() turns it into text for a change ticket, junit()
into a JUnit XML for CI systems, artifact() into the compact form published with set_stats.

Summaries (postfix_queue_info's ``summary``) merge exactly for counts, queues and age buckets.
Top lists merge from each host's own top N, so a fleet-wide row can miss what was below the top
N on every host; the report says so.
"""

from __future__ import absolute_import, division, print_function

import xml.sax.saxutils
from typing import Any, Dict, Iterable, List, Optional, Sequence

from ansible_collections.mailops.postfix.plugins.module_utils._queue import QUEUE_NAMES

RESULT_KEYS = ("assess_result", "hold_result", "purge_result", "requeue_result", "verify_result",
               "hold_incident", "requeue_incident", "end_window_incident", "plan_result")
PHASES = ("assess", "hold", "purge", "requeue", "verify")

# The phase figures the report shows, in runbook order: (key, result fact, field, label).
PHASE_FIGURES = (
    ("junk_before", "assess_result", "junk", "junk found"),
    ("on_hold_before", "assess_result", "on_hold_before", "on hold before"),
    ("held", "hold_result", "held", "held"),
    ("in_flight", "hold_result", "in_flight", "in delivery at hold"),
    ("window_arrivals", "verify_result", "window_arrivals", "arrived in the window"),
    ("purged", "purge_result", "purged", "purged"),
    ("archived", "purge_result", "archived", "archived"),
    ("requeued", "requeue_result", "requeued", "requeued"),
    ("delivered", "verify_result", "delivered", "delivered"),
    ("remaining", "verify_result", "remaining", "remaining"),
    ("left_on_hold", "verify_result", "on_hold", "left on hold"),
    ("junk_left", "verify_result", "junk_left", "junk left"),
    ("skipped_changed", None, None, "skipped (changed since the plan)"),
)
END_WINDOW = ("the incident window is still open here: new mail is held. End it alone with "
              "`ansible-playbook mailops.postfix.end_window`, or run the runbook again to finish")

_TOP_LISTS = (
    ("top_senders", "sender", ("messages", "bytes")),
    ("top_sender_domains", "domain", ("messages", "bytes")),
    ("top_recipient_domains", "domain", ("messages", "recipients")),
    ("top_reasons", "reason", ("messages", "recipients")),
)


def merge_summaries(summaries: Iterable[Optional[Dict[str, Any]]], top: int = 10) -> Optional[Dict[str, Any]]:
    """One summary from several hosts' summaries (None entries are skipped); None when there are none."""
    summaries = [summary for summary in summaries if summary]
    if not summaries:
        return None
    merged = {"total": 0, "bytes": 0, "recipients": 0, "forced_expire": 0, "age_unknown": 0,
              "by_queue": {}, "age_buckets": [], "oldest": None}
    for summary in summaries:
        for field in ("total", "bytes", "recipients", "forced_expire", "age_unknown"):
            merged[field] += summary.get(field, 0)
        for queue, counts in summary.get("by_queue", {}).items():
            slot = merged["by_queue"].setdefault(queue, {"messages": 0, "bytes": 0})
            slot["messages"] += counts["messages"]
            slot["bytes"] += counts["bytes"]
        for index, bucket in enumerate(summary.get("age_buckets", [])):
            if index == len(merged["age_buckets"]):
                merged["age_buckets"].append(dict(bucket, messages=0))
            if merged["age_buckets"][index]["label"] != bucket["label"]:
                raise ValueError("age buckets differ between hosts: %r vs %r"
                                 % (merged["age_buckets"][index]["label"], bucket["label"]))
            merged["age_buckets"][index]["messages"] += bucket["messages"]
        oldest = summary.get("oldest")
        if oldest and (merged["oldest"] is None or oldest["arrival_time"] < merged["oldest"]["arrival_time"]):
            merged["oldest"] = dict(oldest)
    order = {name: index for index, name in enumerate(QUEUE_NAMES)}
    merged["by_queue"] = dict(sorted(merged["by_queue"].items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    for name, label, fields in _TOP_LISTS:
        table = {}
        for summary in summaries:
            for row in summary.get(name, []):
                slot = table.setdefault(row[label], {field: 0 for field in fields})
                for field in fields:
                    slot[field] += row.get(field, 0)
        ranked = sorted(table.items(), key=lambda item: (-item[1]["messages"], -item[1][fields[1]], item[0]))
        merged[name] = [dict(values, **{label: key}) for key, values in ranked[:top]]
    return merged


def release_command(host: str, source: str) -> str:
    """The command that releases what the release guard kept on hold for SOURCE on HOST, after the operator checked it."""
    return ("ansible-playbook mailops.postfix.requeue -i INVENTORY -l %s -e '{\"requeue_release_guarded\": [\"%s\"]}'"
            % (host, source.replace("'", "'\\''").replace('"', '\\"')))


_ORIGIN_LISTS = (("origins", "origin"), ("top_sasl_usernames", "sasl_username"), ("top_clients", "client_address"),
                 ("top_local_uids", "local_uid"), ("top_subjects", "subject"))


def merge_origins(origins: Iterable[Optional[Dict[str, Any]]], top: int = 10) -> Optional[Dict[str, Any]]:
    """Who is sending, for the fleet: each host's top lists merged (a row below the top N on every host can be missing,
    as for the queue summaries); None when no host inspected."""
    origins = [entry for entry in origins if entry]
    if not origins:
        return None
    merged = {"read": sum(entry.get("read", 0) for entry in origins)}
    if any(entry.get("sampled_from") is not None for entry in origins):
        merged["sampled_from"] = sum(entry.get("sampled_from") or entry.get("read", 0) for entry in origins)
    for name, label in _ORIGIN_LISTS:
        if not any(name in entry for entry in origins):
            continue
        table = {}
        for entry in origins:
            for row in entry.get(name) or []:
                slot = table.setdefault(row[label], {"messages": 0, "bytes": 0})
                slot["messages"] += row.get("messages", 0)
                slot["bytes"] += row.get("bytes", 0)
        ranked = sorted(table.items(), key=lambda item: (-item[1]["messages"], -item[1]["bytes"], str(item[0])))
        merged[name] = [dict(values, **{label: key}) for key, values in ranked[:top if name != "origins" else None]]
    return merged


def origins_read(origins: Dict[str, Any]) -> str:
    """How many queue files "who is sending" was read from, and whether that was a sample - said wherever it is shown."""
    read = origins.get("read", 0)
    if origins.get("sampled_from") is None:
        return "%d queue files read (the body never)" % read
    return ("%d queue files read, an even sample of %d messages (the body never): the counts are the sample's"
            % (read, origins["sampled_from"]))


def host_entry(results: Dict[str, Any], host_name: str = "HOST") -> Dict[str, Any]:
    """One host's part of the report from the facts the roles left (a dict; missing keys are fine)."""
    results = results or {}
    phases = {}
    for key, fact, field, _label in PHASE_FIGURES:
        if fact is None:
            continue
        value = (results.get(fact) or {}).get(field)
        if value is not None:
            phases[key] = value
    assess = results.get("assess_result") or {}
    verify = results.get("verify_result") or {}
    purge = results.get("purge_result") or {}
    # the incident as the last phase that opened or ended its window left it
    window = results.get("end_window_incident") or results.get("requeue_incident") or results.get("hold_incident") or {}
    ran = [key for key in RESULT_KEYS[1:5] if results.get(key)]
    if not any(results.get(key) for key in RESULT_KEYS):
        status = "no result"
    elif verify.get("check_mode"):
        status = "check mode"
    elif verify:
        status = "verified" if verify.get("ok") else "verification failed"
    elif results.get("plan_result") and not ran and not window:
        status = "planned"
    elif assess and not ran and not window and assess.get("affected") is False:
        status = "unaffected"
    elif not ran and not window:
        status = "assessed"
    else:
        status = "partial"
    entry = {
        "status": status,
        "phases_done": [phase for phase in PHASES if results.get(phase + "_result")],
        "postfix_version": assess.get("postfix_version") or verify.get("postfix_version"),
        "before": assess.get("summary"),
        "after": verify.get("summary"),
        "phases": phases,
        "problems": list(assess.get("problems") or []) + list(verify.get("problems") or []),
        "window_open": bool(window.get("window_open")),
    }
    if entry["window_open"] and not verify:
        entry["problems"].append(END_WINDOW)
    plan_id = purge.get("plan_id") or (results.get("hold_result") or {}).get("plan_id")
    if plan_id:
        entry["plan_id"] = plan_id
        entry["phases"]["skipped_changed"] = sum(
            int((results.get(phase + "_result") or {}).get("skipped_changed") or 0) for phase in ("hold", "purge"))
    if assess.get("origins"):
        entry["origins"] = assess["origins"]
    released = (results.get("requeue_result") or {}).get("guarded") or []
    guarded = verify.get("guarded") or {row["source"]: row["messages"] for row in released}
    if guarded:
        entry["guarded"] = [{"source": source, "messages": count, "release": release_command(host_name, source)}
                            for source, count in sorted(guarded.items())]
    if purge.get("archive_dir"):
        entry["archive_dir"] = purge["archive_dir"]
    if purge.get("fetched_to"):
        entry["fetched_to"] = purge["fetched_to"]
    return entry


def fleet_report(per_host: Dict[str, Optional[Dict[str, Any]]], hosts: List[str], generated: float, top: int = 10,
                 title: str = "Postfix queue report", audit_log: Optional[str] = None) -> Dict[str, Any]:
    """The report for HOSTS (every host named, whether or not it left results)."""
    entries = {host: host_entry(per_host.get(host), host) for host in hosts}
    totals = {}
    for entry in entries.values():
        for key, value in entry["phases"].items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    counts = {}
    for entry in entries.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {
        "title": title,
        "generated": generated,
        "hosts": entries,
        "host_status": counts,
        "total": {
            "hosts": len(hosts),
            "before": merge_summaries([entries[host]["before"] for host in hosts], top),
            "after": merge_summaries([entries[host]["after"] for host in hosts], top),
            "origins": merge_origins([entries[host].get("origins") for host in hosts], top),
            "phases": totals,
        },
        "notes": ["Fleet top lists merge each host's own top %d." % top]
        + (["Hosts marked unaffected had no junk and no incident: the runbook left them alone."]
           if counts.get("unaffected") else []),
        "audit_log": audit_log or None,
    }


# --- Markdown --------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _queues(summary: Any) -> str:
    if summary is None or summary == {}:
        return "-"
    if isinstance(summary, int):        # a compact report (an artifact) keeps only the total
        return str(summary)
    parts = ["%s %d" % (name, counts["messages"]) for name, counts in summary["by_queue"].items()]
    return "%d (%s)" % (summary["total"], ", ".join(parts)) if parts else "0"


def _summary_section(name: str, summary: Optional[Dict[str, Any]]) -> List[str]:
    lines = ["### %s" % name, ""]
    if not isinstance(summary, dict) or not summary:
        return lines + ["No data." if not summary else "%d messages (the slices' artifacts keep only the totals)." % summary, ""]
    lines += ["%d messages, %d recipients, %d bytes: %s." % (
        summary["total"], summary["recipients"], summary["bytes"], _queues(summary)), ""]
    buckets = [bucket for bucket in summary["age_buckets"] if bucket["messages"]]
    if buckets:
        lines += ["Age (minutes, at most): " + ", ".join(
            "%s: %d" % (bucket["label"], bucket["messages"]) for bucket in buckets), ""]
    for key, label, title in (("top_senders", "sender", "Top senders"),
                              ("top_sender_domains", "domain", "Top sender domains"),
                              ("top_recipient_domains", "domain", "Top recipient domains"),
                              ("top_reasons", "reason", "Top delay reasons")):
        rows = summary.get(key) or []
        if rows:
            lines += ["%s:" % title, ""] + _table([label, "messages"], [(row[label], row["messages"]) for row in rows[:5]])
            lines.append("")
    return lines


def render_markdown(report: Dict[str, Any]) -> str:
    """The report as Markdown: totals first, then a table per host, then the queue summaries."""
    total = report["total"]
    lines = ["# %s" % report["title"], "", "Generated %s, %d hosts: %s." % (
        report["generated"], total["hosts"],
        ", ".join("%d %s" % (count, status) for status, count in sorted(report["host_status"].items()))), ""]
    figures = [(key, label) for key, _fact, _field, label in PHASE_FIGURES]
    shown = [(key, label) for key, label in figures
             if key in total["phases"] or any(key in entry["phases"] for entry in report["hosts"].values())]
    header = ["host", "status", "before", "after"] + [label for _key, label in shown]
    rows = []
    for host in sorted(report["hosts"]):
        entry = report["hosts"][host]
        rows.append([host, entry["status"], _queues(entry.get("before")), _queues(entry.get("after"))]
                    + [entry["phases"].get(key) for key, _label in shown])
    rows.append(["**total**", "", _queues(total["before"]), _queues(total["after"])]
                + [total["phases"].get(key) for key, _label in shown])
    lines += ["## Per host", ""] + _table(header, rows) + [""]
    problems = [(host, problem) for host in sorted(report["hosts"]) for problem in report["hosts"][host].get("problems", [])]
    if problems:
        lines += ["## Problems", ""] + ["- **%s**: %s" % (host, problem) for host, problem in problems] + [""]
    plans = [(host, report["hosts"][host]["plan_id"]) for host in sorted(report["hosts"])
             if report["hosts"][host].get("plan_id")]
    if plans:
        lines += ["## Plan applied", ""] + _table(["host", "plan ID"], plans) + [""]
    if report.get("audit_log"):
        lines += ["Audit log (one JSON line per host and action): `%s`" % report["audit_log"], ""]
    guarded = [(host, row["source"], row["messages"], "`%s`" % row["release"]) for host in sorted(report["hosts"])
               for row in report["hosts"][host].get("guarded") or []]
    if guarded:
        lines += ["## Kept on hold by the release guard", "",
                  "These sources are not in the junk but sent more during the incident window than the guard allows: "
                  "their mail stays on hold. Check them; release a source with its command.", ""]
        lines += _table(["host", "source", "messages on hold", "release with"], guarded) + [""]
    origins = (report["total"] or {}).get("origins")
    if origins:
        lines += ["## Who is sending", ""] + _origins_section(origins)
    archives = [(host, report["hosts"][host].get("archive_dir"), report["hosts"][host].get("fetched_to"))
                for host in sorted(report["hosts"]) if report["hosts"][host].get("archive_dir")]
    if archives:
        lines += ["## Archives of purged mail", ""] + _table(
            ["host", "on the host", "copied to the controller"], archives) + [""]
    lines += ["## Fleet queue", ""]
    lines += _summary_section("Before", total["before"])
    if total["after"] is not None:
        lines += _summary_section("After", total["after"])
    lines += ["_%s_" % note for note in report.get("notes", [])] + [""]
    return "\n".join(lines)


def _origins_section(origins: Dict[str, Any]) -> List[str]:
    text = origins_read(origins)
    lines = [text[:1].upper() + text[1:] + ".", ""]
    for key, label, title in (("origins", "origin", "Ways in"), ("top_sasl_usernames", "sasl_username", "SASL logins"),
                              ("top_clients", "client_address", "Original clients"),
                              ("top_local_uids", "local_uid", "Local uids (sendmail)"),
                              ("top_subjects", "subject", "Subjects")):
        rows = origins.get(key) or []
        if rows:
            table = _table([label, "messages", "bytes"], [(row[label], row["messages"], row["bytes"]) for row in rows])
            lines += ["%s:" % title, ""] + table + [""]
    return lines


# --- sliced fleets ---------------------------------------------------------------------------

def merge_reports(reports: List[Dict[str, Any]], generated: float, title: Optional[str] = None) -> Dict[str, Any]:
    """One report from the reports of disjoint slices of a fleet (AWX job slicing, parallel --limit runs).

    Takes full reports (report.json) or their compact artifacts (mailops_report) alike; counts, statuses
    and phase totals merge exactly, queue summaries when every slice has them.
    """
    reports = [report for report in reports if report]
    if not reports:
        raise ValueError("no report to merge")
    hosts = {}
    for report in reports:
        overlap = set(hosts) & set(report["hosts"])
        if overlap:
            raise ValueError("the slices overlap: %s in more than one" % ", ".join(sorted(overlap)))
        hosts.update(report["hosts"])
    counts, totals = {}, {}
    for entry in hosts.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        for key, value in entry["phases"].items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    merged = {"title": title or reports[0]["title"], "generated": generated, "hosts": hosts, "host_status": counts,
              "slices": len(reports), "total": {"hosts": len(hosts), "phases": totals}}
    for side in ("before", "after"):
        values = [report["total"].get(side) for report in reports]
        if all(isinstance(value, dict) for value in values):
            merged["total"][side] = merge_summaries(values, top=max(len(v.get("top_senders", [])) for v in values) or 10)
        elif all(value is None or isinstance(value, int) for value in values):
            merged["total"][side] = sum(value or 0 for value in values) if any(v is not None for v in values) else None
        else:
            merged["total"][side] = sum((value or {}).get("total", 0) if isinstance(value, dict) else (value or 0)
                                        for value in values)
    if all("notes" in report for report in reports):
        merged["notes"] = sorted({note for report in reports for note in report["notes"]}) + [
            "Merged from %d slices of the fleet." % len(reports)]
        merged["audit_log"] = reports[0].get("audit_log")
    return merged


# --- for CI systems and AWX ------------------------------------------------------------------

def artifact(report: Dict[str, Any]) -> Dict[str, Any]:
    """The report's compact form for set_stats (AWX artifacts): statuses, figures, problems, totals."""
    return {
        "title": report["title"],
        "generated": report["generated"],
        "host_status": report["host_status"],
        "hosts": {host: {"status": entry["status"], "phases": entry["phases"], "problems": entry["problems"],
                         "window_open": entry.get("window_open", False),
                         "phases_done": entry.get("phases_done", [])}
                  for host, entry in report["hosts"].items()},
        "total": {"hosts": report["total"]["hosts"], "phases": report["total"]["phases"],
                  "before": (report["total"]["before"] or {}).get("total"),
                  "after": (report["total"]["after"] or {}).get("total")},
    }


def junit(report: Dict[str, Any]) -> str:
    """JUnit XML: one test suite per host, one test case per phase it should have gone through."""
    escape = xml.sax.saxutils.quoteattr
    suites, failures_all, tests_all = [], 0, 0
    for host in sorted(report["hosts"]):
        entry = report["hosts"][host]
        cases = []
        for phase in PHASES:
            name = "%s %s" % (host, phase)
            if entry["status"] in ("unaffected", "check mode", "planned") and phase != "assess":
                cases.append('<testcase classname=%s name=%s><skipped message=%s/></testcase>'
                             % (escape(host), escape(name), escape(entry["status"])))
                continue
            done = phase in entry.get("phases_done", PHASES if entry["status"] == "verified" else [])
            failed = not done or (phase == "verify" and entry["status"] == "verification failed")
            message = "; ".join(entry["problems"]) or ("%s did not run (status: %s)" % (phase, entry["status"]))
            body = '<failure message=%s/>' % escape(message) if failed else ""
            cases.append('<testcase classname=%s name=%s>%s</testcase>' % (escape(host), escape(name), body))
            failures_all += 1 if failed else 0
        tests_all += len(cases)
        failures = sum(1 for case in cases if "<failure" in case)
        suites.append('<testsuite name=%s tests="%d" failures="%d">%s</testsuite>'
                      % (escape(host), len(cases), failures, "".join(cases)))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name=%s tests="%d" failures="%d">%s</testsuites>\n'
            % (escape(report["title"]), tests_all, failures_all, "".join(suites)))
