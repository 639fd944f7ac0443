# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Queue metrics as node_exporter's textfile collector reads them: what no Postfix exporter knows - holds by the admin
or by an incident, the incident window, the runbook's last runs - beside the queue's own depth, bytes and age.

The text is Prometheus's exposition format: ``# HELP`` and ``# TYPE`` before each family, gauges only (a file rewritten
every minute cannot carry honest counters), no timestamps (node_exporter skips a whole file that has any), every queue
written even when empty (so "0 held" is a series). Labels are bounded: ``postfix_instance``, ``queue``, ``age``,
``held_by``, ``phase`` - never a sender, domain or login (per-sender labels grew to tens of thousands of series in
the exporters that tried). Ages come from the arrival time postqueue lists, never from file times (qmgr sets a
deferred file's time to its next retry).

Written atomically (a temporary file in the same directory, fsynced, renamed over the old one), mode 0644 for the
node_exporter user. The file is one per instance: ``mailops_postfix.prom`` for the default instance,
``mailops_postfix_<instance>.prom`` for another.

PURE but for write_textfile(); the listing and the ledger are read by the caller (run() below, used by both the
postfix_metrics module and the host's own timer, mailops-postfix-metrics).
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import re
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _files, _incident
from ansible_collections.mailops.postfix.plugins.module_utils._queue import QUEUE_NAMES, unique_messages
from ansible_collections.mailops.postfix.plugins.module_utils._summary import AGE_BUCKET_MINUTES

PREFIX = "mailops_postfix_"
DEFAULT_DIR = "/var/lib/prometheus/node-exporter"
# The queues a listing shows (corrupt is not listed by postqueue).
LISTED_QUEUES = tuple(name for name in QUEUE_NAMES if name != "corrupt")
AGE_LABELS = tuple("%d-%dm" % (low, high) for low, high in zip((0,) + AGE_BUCKET_MINUTES, AGE_BUCKET_MINUTES)) \
    + ("%dm+" % AGE_BUCKET_MINUTES[-1],)
# The ledger's events and the runbook phase each stands for.
PHASES = {"opened": "window_open", "hold": "hold", "delete": "purge", "requeue": "requeue", "release": "requeue",
          "window ended": "window_end"}
FAMILIES = (
    ("up", "1 when the queue was listed for these metrics, 0 when listing it failed."),
    ("master_running", "1 when the instance's master process runs (its lock on master.pid), else 0."),
    ("queue_messages", "Messages in the queue."),
    ("queue_bytes", "Bytes of the messages in the queue."),
    ("queue_oldest_age_seconds", "Age of the queue's oldest message, from its arrival time (0 when empty)."),
    ("queue_messages_by_age", "Messages in the queue by age, in qshape's buckets (minutes)."),
    ("hold_messages", "Messages on hold: held_by=incident by the runbook's incident (held, or arrived in its "
                      "window), held_by=admin everything else (the host's own hold)."),
    ("incident_window_open", "1 while an incident window holds every new message, else 0."),
    ("incident_window_opened_timestamp_seconds", "When the current (or last) incident opened, 0 when there was none."),
    ("runbook_last_run_timestamp_seconds", "When the runbook last ran this phase on the instance (from its ledger)."),
    ("runbook_last_run_success", "1 when the runbook's last run of this phase succeeded, else 0."),
    ("runbook_last_run_messages", "Messages the runbook's last run of this phase changed."),
    ("metrics_written_timestamp_seconds", "When these metrics were written."),
    ("metrics_duration_seconds", "How long reading the queue for these metrics took."),
)
_LABEL_ESCAPES = {"\\": "\\\\", "\"": "\\\"", "\n": "\\n"}


def file_name(instance_name: str) -> str:
    return "mailops_postfix.prom" if instance_name == "postfix" else \
        "mailops_postfix_%s.prom" % re.sub(r"[^A-Za-z0-9_.-]", "_", instance_name)


def _label(value: Any) -> str:
    return "".join(_LABEL_ESCAPES.get(char, char) for char in str(value))


def _bucket(age_seconds: float) -> int:
    minutes = age_seconds / 60.0
    for index, limit in enumerate(AGE_BUCKET_MINUTES):
        if minutes < limit:
            return index
    return len(AGE_BUCKET_MINUTES)


class QueueStats:
    """Per queue: messages, bytes, oldest arrival, messages per age bucket - and the IDs on hold (for held_by)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.queues: Dict[str, Dict[str, Any]] = {
            name: {"messages": 0, "bytes": 0, "oldest": None, "ages": [0] * len(AGE_LABELS)} for name in LISTED_QUEUES}
        self.held: List[Dict[str, Any]] = []

    def add(self, message: Dict[str, Any]) -> None:
        queue = self.queues.setdefault(message["queue_name"] or "unknown",
                                       {"messages": 0, "bytes": 0, "oldest": None, "ages": [0] * len(AGE_LABELS)})
        queue["messages"] += 1
        queue["bytes"] += message["message_size"]
        arrival = message["arrival_time"]
        if arrival is not None:
            if queue["oldest"] is None or arrival < queue["oldest"]:
                queue["oldest"] = arrival
            queue["ages"][_bucket(max(0, self.now - arrival))] += 1
        if message["queue_name"] == "hold":
            self.held.append({"queue_id": message["queue_id"], "queue_name": "hold"})


def held_by(ledger: Optional[Dict[str, Any]], held: List[Dict[str, Any]]) -> Tuple[int, int]:
    """(by the incident, by the admin) among the messages on hold."""
    if ledger is None:
        return 0, len(held)
    _quarantine, in_held, in_window = _incident.classify(ledger, held)
    incident = len(in_held) + len(in_window)
    return incident, len(held) - incident


def last_runs(ledger: Optional[Dict[str, Any]]) -> Dict[str, Tuple[float, bool, int]]:
    """{phase: (time, success, messages)} of the ledger's newest event of each phase."""
    runs: Dict[str, Tuple[float, bool, int]] = {}
    for event in (ledger or {}).get("history") or []:
        phase = PHASES.get(event.get("event"))
        if phase:
            runs[phase] = (event.get("time") or 0, event.get("ok", True) is not False, event.get("changed") or 0)
    return runs


def render(instance_name: str, stats: QueueStats, ledger: Optional[Dict[str, Any]], running: Optional[bool], now: float,
           listed: bool = True, duration: float = 0.0) -> str:
    """The metrics file's text."""
    samples: Dict[str, List[Tuple[Dict[str, Any], float]]] = {name: [] for name, _help in FAMILIES}
    base = {"postfix_instance": instance_name}

    def add(family: str, value: float, **labels: Any) -> None:
        samples[family].append((dict(base, **labels), value))

    add("up", 1 if listed else 0)
    add("master_running", 1 if running else 0)
    if listed:
        for queue, data in sorted(stats.queues.items()):
            add("queue_messages", data["messages"], queue=queue)
            add("queue_bytes", data["bytes"], queue=queue)
            add("queue_oldest_age_seconds", 0 if data["oldest"] is None else max(0, int(now - data["oldest"])), queue=queue)
            for label, count in zip(AGE_LABELS, data["ages"]):
                add("queue_messages_by_age", count, queue=queue, age=label)
        incident, admin = held_by(ledger, stats.held)
        add("hold_messages", incident, held_by="incident")
        add("hold_messages", admin, held_by="admin")
    window_open = bool(ledger and ledger.get("window") and ledger.get("window_ended") is None)
    add("incident_window_open", 1 if window_open else 0)
    add("incident_window_opened_timestamp_seconds", (ledger or {}).get("opened") or 0)
    for phase, (when, ok, changed) in sorted(last_runs(ledger).items()):
        add("runbook_last_run_timestamp_seconds", when, phase=phase)
        add("runbook_last_run_success", 1 if ok else 0, phase=phase)
        add("runbook_last_run_messages", changed, phase=phase)
    add("metrics_written_timestamp_seconds", round(now, 3))
    add("metrics_duration_seconds", round(duration, 3))
    lines = []
    for family, help_text in FAMILIES:
        if not samples[family]:
            continue
        name = PREFIX + family
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
        for labels, value in samples[family]:
            shown = ",".join('%s="%s"' % (key, _label(labels[key])) for key in sorted(labels))
            lines.append("%s{%s} %s" % (name, shown, value))
    return "\n".join(lines) + "\n"


def write_textfile(directory: str, name: str, text: str) -> str:
    """Write DIRECTORY/NAME atomically: a temporary file beside it, fsynced, mode 0644, renamed over the old one."""
    return _files.write_text(os.path.join(directory, name), text, 0o644)


def run(cli: Any, directory: str, state_dir: str, now: Optional[float] = None, write: bool = True) -> Dict[str, Any]:
    """Read the instance's queue and ledger, write its metrics file; returns {"path", "text", "error"}.

    A listing that fails still writes a file (``up`` 0, the incident's metrics from its ledger): a stale or missing
    file must mean the writer did not run, not that Postfix failed."""
    from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import master_running
    started = time.time()
    instance = cli.instance()
    now = started if now is None else now
    ledger = _incident.read_ledger(_incident.ledger_path(state_dir, instance["name"]), instance)
    stats, error = QueueStats(now), None
    try:
        for message in unique_messages(cli.list_queue(cli.choose_source("auto", instance["version"]), now)):
            stats.add(message)
    except Exception as exc:  # pylint: disable=broad-except  # reported in the file (up 0) and to the caller
        error = str(exc)
    running = master_running(instance["queue_directory"])[0]
    text = render(instance["name"], stats, ledger, running, now, error is None, time.time() - started)
    name = file_name(instance["name"])
    path = write_textfile(directory, name, text) if write else os.path.join(directory, name)
    return {"path": path, "text": text, "error": error, "instance": instance}


def host_instances(cli: Any) -> List[str]:
    """The configuration directories of every Postfix instance of the host: the default instance's (as its postconf
    reports it - a relocated Postfix has its own), then those postmulti lists in multi_instance_directories."""
    values = cli.postconf("config_directory", "multi_instance_directories")
    found = [values["config_directory"]]
    for directory in re.split(r"[\s,]+", values.get("multi_instance_directories") or ""):
        if directory and directory not in found:
            found.append(directory)
    return found


def main(argv: Optional[List[str]] = None) -> int:
    """The host's own timer: ``mailops-postfix-metrics [--dir DIR] [--state-dir DIR] [--bin-dir DIR]
    (--all-instances | --config-dir DIR...)``."""
    from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI
    parser = argparse.ArgumentParser(description="Write mailops.postfix's queue metrics for node_exporter.")
    parser.add_argument("--dir", default=DEFAULT_DIR, help="node_exporter's textfile directory (default %(default)s)")
    parser.add_argument("--state-dir", default=_incident.DEFAULT_STATE_DIR, help="where the incident ledgers are")
    parser.add_argument("--config-dir", action="append", help="a Postfix instance (repeat; default: the default one)")
    parser.add_argument("--all-instances", action="store_true",
                        help="every instance of the host: the default one and postmulti's multi_instance_directories")
    parser.add_argument("--bin-dir", help="the directory of Postfix's commands (default: searched)")
    args = parser.parse_args(argv)
    status = 0
    config_dirs = args.config_dir or [None]
    if args.all_instances:
        try:
            config_dirs = host_instances(PostfixCLI(bin_dir=args.bin_dir))
        except Exception as exc:  # pylint: disable=broad-except  # said on stderr, as the timer's log shows it
            sys.stderr.write("mailops-postfix-metrics: cannot list the host's instances: %s\n" % exc)
            return 1
    for config_dir in config_dirs:
        try:
            result = run(PostfixCLI(config_dir=config_dir, bin_dir=args.bin_dir), args.dir, args.state_dir)
        except Exception as exc:  # pylint: disable=broad-except  # one instance's failure must not stop the others
            sys.stderr.write("mailops-postfix-metrics: %s: %s\n" % (config_dir or "default instance", exc))
            status = 1
            continue
        if result["error"]:
            sys.stderr.write("mailops-postfix-metrics: %s: listing failed: %s\n" % (result["path"], result["error"]))
            status = 1
    return status
