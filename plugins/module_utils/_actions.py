# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_queue_action's steps: list -> select -> plan -> guards -> act in batches -> account.

The decisions are pure (_queue, _plan, _postsuper); processes run only in
_postfix_cli. This module sequences them and builds the result, so that a
failure part-way returns the same keys with what was done so far.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import time

from ansible_collections.mailops.postfix.plugins.module_utils import _archive, _changeplan, _incident, _plan
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import (
    cli_from_params, selector_from_params, selector_from_dict)
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import (
    QueueParseError, SelectionError, Selector, parse_duration, unique_messages)

THROTTLED = ("requeue", "release", "flush")


def _empty_result(action):
    return {"action": action, "matched": 0, "changed_count": 0, "queue_ids": [], "vanished": [],
            "not_applicable": [], "requeued_long_held": [], "pending": [], "batches": [], "skipped_changed": []}


def run_action(params, check_mode):
    """Run the action; returns (result, error message or None, warnings).

    A real run (not check mode) in which Postfix was asked to change something also writes one
    audit line to Postfix's own log (postlog): who, what, which IDs, and whether it failed.
    """
    if params["action"] == "reinject":
        result, error, warnings = _reinject(params, check_mode, _empty_result(params["action"]))
    else:
        result, error, warnings = _run(params, check_mode)
    if not check_mode and (result["changed_count"] or result["batches"] or result["pending"]):
        trouble = _log_audit(params, result, error)
        if trouble:
            warnings.append("the audit line could not be written to Postfix's log (postlog: %s)" % trouble)
    return result, error, warnings


def audit_text(params, result, error):
    """The audit line for Postfix's log: short, one line, key=value."""
    ids = result["queue_ids"]
    shown = ",".join(ids[:20]) + (",...(%d more)" % (len(ids) - 20) if len(ids) > 20 else "")
    return "operator=%s action=%s %s changed=%d matched=%d skipped_changed=%d%s result=%s ids=%s" % (
        params["operator"] or "-", result["action"],
        "plan=%s" % result["plan_id"] if result.get("plan_id") else "selection=%s" % _compact(result.get("selection")),
        result["changed_count"], result["matched"], len(result["skipped_changed"]),
        " archive=%s" % result["archive"]["directory"] if result.get("archive", {}).get("directory") else "",
        "failed" if error else "ok", shown or "-")


def _compact(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else "{}"


def _log_audit(params, result, error):
    try:
        return cli_from_params(params).log("mailops.postfix", audit_text(params, result, error))
    except PostfixError as exc:
        return str(exc)


def _run(params, check_mode):
    action_name = params["action"]
    result = _empty_result(action_name)
    warnings = []
    try:
        if action_name == "archive" and not params["archive_dir"]:
            raise _plan.ActionError("action=archive needs archive_dir")
        if params["archive"]:
            raise _plan.ActionError("archive (an archive to re-inject) is only for action=reinject")
        if params["archive_dir"] and action_name not in ("archive", "delete"):
            raise _plan.ActionError("archive_dir is for action=archive and action=delete, not %s" % action_name)
        selector = selector_from_params(params)
        cli = cli_from_params(params)
        instance = cli.instance()
        result["postfix_version"] = instance["mail_version"]
        result["instance"] = dict((k, instance[k]) for k in ("name", "config_dir", "queue_directory"))
        action = _plan.ACTIONS[action_name]
        if action.min_version and tuple(instance["version"]) < action.min_version:
            raise _plan.ActionError("%s needs Postfix %s or newer; this is %s" % (
                action_name, ".".join(str(v) for v in action.min_version), instance["mail_version"]))
        source = cli.choose_source(params["source"], instance["version"])
        result["selection"] = selector.given
        exclude = selector_from_dict(params["exclude"], "exclude", selector.now) if params["exclude"] else None
        incident = _Incident(params["incident"], instance, selector.now, check_mode) if params["incident"] else None
        listed = unique_messages(cli.list_queue(source, selector.now))
        if incident:
            listed = incident.observe(listed)
        if params["plan"] is not None:
            selected = _apply_plan(params, selector, instance, listed, result)
        else:
            selected = list(selector.select(listed))
        warnings.extend(cli.warnings)
        if exclude:
            kept = [message for message in selected if not exclude.matches(message)]
            result["excluded"] = len(selected) - len(kept)
            selected = kept
        if incident:
            selected = incident.narrow(action_name, selected, result)
        result["matched"] = len(selected)
        result["listed_at"] = selector.now
        by_queue = {}
        for message in selected:
            by_queue[message["queue_name"] or "unknown"] = by_queue.get(message["queue_name"] or "unknown", 0) + 1
        result["matched_by_queue"] = by_queue
        _plan.check_guards(action_name, selector, len(selected), params["all"] or params["plan"] is not None,
                           params["max_messages"], params["expect_count"])
        lifetimes = None
        if action_name == "release":
            values = cli.postconf("maximal_queue_lifetime", "bounce_queue_lifetime")
            lifetimes = dict((k, _plan.postfix_time(v)) for k, v in values.items())
        if action.flag is not None and os.geteuid() == 0:  # others are refused by postsuper itself
            _check_logging_while_stopped(cli, instance["queue_directory"])
        plan = _plan.plan(action_name, selected, selector.now, params["long_held"], lifetimes)
        result["not_applicable"] = plan.cannot
        if params["return_plan"]:
            planned = set(plan.queue_ids) | set(plan.long_held)
            result["plan"] = _changeplan.host_plan(action_name, selector.given, instance["mail_version"], instance,
                                                   selector.now, [m for m in selected if m["queue_id"] in planned])
        result["diff"] = {"before": _plan.diff_text(plan.diff, "before"), "after": _plan.diff_text(plan.diff, "after")}
        if params["archive_dir"] and check_mode:
            result["archive"] = {"directory": None, "count": len(plan.queue_ids), "manifest": None}
        elif params["archive_dir"]:
            plan.restrict_to(*_archive_first(cli, plan, selected, params, instance, selector, result))
        if action_name == "archive":
            result["queue_ids"] = plan.queue_ids
            result["changed_count"] = len(plan.queue_ids)
            result["vanished"] = list(plan.already)
            return result, None, warnings
        steps = _steps(cli, action, plan, params["batch_size"], selector)
        if check_mode:
            result["batches"] = [{"command": " ".join(step["argv"]), "sent": len(step["ids"]), "changed": len(step["ids"])}
                                 for step in steps]
            result["queue_ids"] = plan.queue_ids
            result["changed_count"] = len(plan.queue_ids)
            result["requeued_long_held"] = list(plan.long_held)
            result["vanished"] = list(plan.already)
            return result, None, warnings
        if incident:
            incident.intend(action_name, plan.queue_ids)
        try:
            _act(cli, action_name, plan, steps, params, instance, result)
        finally:
            if incident:
                incident.record(action_name, result)
        if action_name == "requeue" or result["requeued_long_held"]:
            trouble = cli.wake_pickup() if result["changed_count"] else None
            if trouble:
                warnings.append("requeued mail waits in maildrop until pickup runs (postkick: %s)" % trouble)
        return result, None, warnings
    except (SelectionError, QueueParseError, PostfixError, _plan.ActionError, _archive.ArchiveError,
            _incident.IncidentError) as exc:
        return result, str(exc), warnings


class _Incident:
    """The incident option of one run: its ledger on the host, read before and written after acting."""

    def __init__(self, options, instance, now, check_mode):
        self.options = options
        self.now = now
        self.check_mode = check_mode
        self.path = _incident.ledger_path(options["state_dir"], instance["name"])
        self.ledger = _incident.read_ledger(self.path)
        self.instance = instance
        self.junk = selector_from_dict(options["junk"], "incident.junk", now) if options["junk"] else None
        self.hold_ids = []
        self.junk_ids = set()
        self.window_part = []

    def observe(self, listed):
        """Pass the listing through, noting what is on hold (and, with incident.junk, what is junk)."""
        for message in listed:
            if message["queue_name"] == "hold":
                self.hold_ids.append(message["queue_id"])
            if self.junk is not None and self.junk.matches(message):
                self.junk_ids.add(message["queue_id"])
            yield message

    def narrow(self, action_name, selected, result):
        """Keep the earlier hold out of the action (and, with scope, what the incident did not hold)."""
        if self.ledger is not None and not self.check_mode and _incident.settle(self.ledger, self.hold_ids):
            _incident.write_ledger(self.path, self.ledger)      # an earlier run was killed half-way
        if self.ledger is None:
            if not self.check_mode:
                raise _incident.IncidentError(
                    "there is no incident on %s (no %s): open one first (postfix_incident state=open)"
                    % (self.instance["config_dir"], self.path))
            # check mode before the incident opens: what is on hold now would be its earlier hold
            self.ledger = _incident.new_ledger("(not opened)", self.instance, self.now, self.hold_ids, [], False, {}, None)
        if action_name in ("requeue", "release", "expire_release", "flush") and self.ledger["window"] \
                and self.ledger["window_ended"] is None:
            raise _incident.IncidentError(
                "the incident window of %s is still open: mail released now would be held again at once. "
                "End the window first (postfix_incident state=closed); nothing was changed" % self.instance["config_dir"])
        kept, quarantined = _incident.narrow(self.ledger, selected, self.options["scope"], self.options["include_quarantine"])
        _q, in_held, in_window = _incident.classify(self.ledger, kept)
        self.window_part = [message["queue_id"] for message in in_window]
        summary = {"incident_id": self.ledger["incident_id"], "ledger": self.path, "excluded_quarantine": quarantined,
                   "selected_held": len(in_held), "selected_window": len(in_window),
                   "junk_held": self.ledger.get("junk_held")}
        if action_name == "delete":
            _incident.purge_guard(self.ledger, kept)
        if action_name == "hold" and self.junk is not None and self.ledger.get("junk_held") is None:
            held = set(m["queue_id"] for m in kept) | set(self.ledger["held"])
            summary["junk_held"] = len(self.junk_ids & held)
        result["incident"] = summary
        return kept

    def intend(self, action_name, ids):
        """Write-ahead, before the first batch: what this run is about to do."""
        if self.check_mode or self.ledger is None or not ids:
            return
        _incident.intend(self.ledger, action_name, ids, self.now)
        _incident.write_ledger(self.path, self.ledger)

    def record(self, action_name, result):
        """Write what Postfix reported changed (and the window arrivals seen) to the ledger."""
        if self.check_mode or self.ledger is None or "incident" not in result:
            return
        if action_name == "hold" and self.ledger.get("junk_held") is None:
            self.ledger["junk_held"] = result["incident"]["junk_held"]
        _incident.record(self.ledger, action_name, result["queue_ids"], self.window_part, self.now,
                         {"matched": result["matched"], "plan_id": result.get("plan_id")})
        _incident.write_ledger(self.path, self.ledger)


def _apply_plan(params, selector, instance, listed, result):
    """The messages a reviewed plan names that are still queued unchanged (the rest: skipped_changed)."""
    if not selector.is_empty or params["all"]:
        raise _plan.ActionError("plan replaces the selection: give no selection options and no all with it")
    try:
        max_age = parse_duration(params["plan_max_age"], "plan_max_age")
        _changeplan.validate(params["plan"], params["action"], instance["config_dir"], selector.now, max_age)
    except _changeplan.PlanError as exc:
        raise _plan.ActionError("plan refused, nothing was changed: %s" % exc)
    result["plan_id"] = params["plan"].get("plan_id")
    chosen, result["skipped_changed"] = _changeplan.match(params["plan"], listed)
    return chosen


def _archive_first(cli, plan, selected, params, instance, selector, result):
    """Save every planned message (content and envelope) before anything is deleted.

    Batches of IDs go to one postcat each; postcat dies at the first ID it
    cannot open (gone since the listing): that ID is vanished and the rest of
    the batch is asked again. Any failure to write stops the whole action
    before a single deletion. Returns (IDs archived whole, IDs gone meanwhile).
    """
    by_id = dict((m["queue_id"], m) for m in selected)
    writer = _archive.ArchiveWriter(params["archive_dir"], instance["name"], selector.now)
    archived, vanished = [], []
    try:
        writer.open()
        for batch in _plan.batches(plan.queue_ids, params["batch_size"]) if plan.queue_ids else []:
            remaining = list(batch)
            writer.begin_batch()         # one mbox file per batch, durable (fsync) before the next
            while remaining:
                rc, out, err = cli.postcat(remaining)
                printed = _archive.split_postcat(out, remaining)
                written = 0
                for queue_id in remaining:   # postcat prints in order and stops at the first it cannot open
                    if queue_id not in printed:
                        break
                    sender, _recipients = _archive.envelope_of(printed[queue_id]["envelope"])
                    writer.add(dict(by_id[queue_id], envelope_sender=sender), printed[queue_id]["content"])
                    archived.append(queue_id)
                    written += 1
                remaining = remaining[written:]
                if rc == 0 and not remaining:
                    break
                missing = _archive.missing_id(err)
                if rc == 0 or missing is None or not remaining or remaining[0] != missing:
                    raise _plan.ActionError("postcat failed (exit %s): %s" % (rc, err.strip() or "no message"))
                vanished.append(missing)
                remaining = remaining[1:]
            writer.end_batch()
        manifest = writer.close({
            "created": int(selector.now), "instance": instance["name"], "config_dir": instance["config_dir"],
            "postfix_version": instance["mail_version"], "action": params["action"],
            "selection": selector.given, "plan_id": result.get("plan_id"), "operator": params["operator"]})
    except (OSError, _archive.ArchiveError, PostfixError) as exc:
        result["archive"] = {"directory": writer.path, "count": len(archived), "manifest": None}
        raise _plan.ActionError("archiving to %s failed (%s): nothing was deleted" % (writer.path, exc))
    result["archive"] = {"directory": writer.path, "count": len(archived), "manifest": manifest}
    return archived, vanished


def _reinject(params, check_mode, result):
    """Submit archived messages again with their envelope (the way back from a purge)."""
    try:
        if not params["archive"]:
            raise _plan.ActionError("action=reinject needs archive (an archive directory or its manifest.json)")
        given = [name for name in Selector.OPTIONS + ("archive_dir",) if name != "queue_ids" and params[name]]
        if given:
            raise _plan.ActionError("reinject takes archive and optionally queue_ids, not %s" % ", ".join(given))
        selector_from_params(params)   # validates queue_ids (the only selection option reinject takes)
        cli = cli_from_params(params)
        # every message checked against its checksum before anything is sent (read one at a time: flat memory)
        path, manifest, count = _archive.verify(params["archive"])
        wanted = set(params["queue_ids"]) if params["queue_ids"] else None
        done = _archive.reinjected_ids(path)
        chosen = [entry["queue_id"] for entry in manifest.get("messages", [])
                  if wanted is None or entry["queue_id"] in wanted]
        result["matched"] = len(chosen)
        result["vanished"] = [queue_id for queue_id in chosen if queue_id in done]
        todo = [queue_id for queue_id in chosen if queue_id not in done]
        result["archive"] = {"directory": path, "count": count, "manifest": os.path.join(path, _archive.MANIFEST)}
        if check_mode:
            result["queue_ids"] = todo
            result["changed_count"] = len(todo)
            return result, None, []
        sending = set(todo)
        try:
            for entry, content in _archive.load(path)[2]:
                if entry["queue_id"] not in sending:
                    continue
                cli.reinject(entry["envelope_sender"], entry["recipients"], content)
                result["queue_ids"].append(entry["queue_id"])
                done.add(entry["queue_id"])
        finally:
            _archive.record_reinjected(path, done)
            result["changed_count"] = len(result["queue_ids"])
            result["pending"] = [queue_id for queue_id in todo if queue_id not in set(result["queue_ids"])]
        return result, None, []
    except (SelectionError, PostfixError, _plan.ActionError, _archive.ArchiveError, OSError) as exc:
        return result, str(exc), []


def _check_logging_while_stopped(cli, queue_directory):
    """Refuse before any change when postsuper would stop after its first message.

    With Postfix stopped and maillog_file set, postsuper writes the log itself
    as the mail owner; if it cannot, it acts on one message and dies.
    """
    settings = cli.postconf("maillog_file", "mail_owner")
    if settings["maillog_file"] and not cli.running(queue_directory) and \
            not cli.writable_by(settings["maillog_file"], settings["mail_owner"]):
        raise _plan.ActionError(
            "Postfix is stopped and its maillog_file %s is not writable by %s: postsuper would act on one "
            "message and stop. Start Postfix, or make the log file writable by %s; nothing was changed"
            % (settings["maillog_file"], settings["mail_owner"], settings["mail_owner"]))


def _steps(cli, action, plan, batch_size, selector):
    """The commands to run: one step per batch (and per queue the messages were seen in)."""
    steps = []
    if action.name == "flush":
        ids = plan.queue_ids
        whole_deferred = selector.given.keys() <= {"queues"} and selector.given.get("queues") == ["deferred"]
        if whole_deferred and ids:
            steps.append({"kind": "flush_all", "ids": ids, "argv": cli.argv("postqueue", "-f"), "queues": ()})
        else:
            for batch in _plan.batches(ids, batch_size) if ids else []:
                steps.append({"kind": "flush", "ids": batch, "argv": cli.argv("postqueue", "-i", "ID"),
                              "queues": ()})
        return steps
    for queues, ids in sorted(plan.groups.items()):
        for batch in _plan.batches(ids, batch_size):
            steps.append({"kind": "postsuper", "flag": action.flag, "ids": batch, "queues": queues,
                          "argv": cli.argv("postsuper", "-" + action.flag, "-") + list(queues)})
    if plan.long_held:
        for batch in _plan.batches(plan.long_held, batch_size):
            steps.append({"kind": "postsuper", "flag": "r", "ids": batch, "queues": ("hold",),
                          "argv": cli.argv("postsuper", "-r", "-", "hold")})
    return steps


def _act(cli, action_name, plan, steps, params, instance, result):
    """Run the steps; keep the accounting current so a failure part-way reports what was done."""
    outcomes = []
    throttled = action_name in THROTTLED and params["max_active"] is not None
    failed = True
    try:
        for index, step in enumerate(steps):
            if index and params["batch_pause"]:
                time.sleep(params["batch_pause"])
            if throttled:
                cli.wait_in_flight_below(instance["queue_directory"], params["max_active"], params["max_active_timeout"])
            if step["kind"] == "postsuper":
                rc, outcome = cli.postsuper(step["flag"], step["ids"], step["queues"])
                outcomes.append((step["flag"], step["ids"], outcome))
                changed_here = len(_plan.reported(step["flag"], outcome).intersection(step["ids"]))
                result["batches"].append({"command": " ".join(step["argv"]), "sent": len(step["ids"]),
                                          "changed": changed_here})
                if rc != 0 or outcome.fatal or not outcome.consistent or outcome.other:
                    raise PostfixError("%s stopped part-way (exit %s): %s" % (
                        " ".join(step["argv"]), rc,
                        outcome.fatal or "; ".join(outcome.other) or "its totals disagree with its per-message lines"))
            else:
                if step["kind"] == "flush_all":
                    cli.flush_deferred()
                else:
                    cli.flush(step["ids"])
                result["batches"].append({"command": " ".join(step["argv"]), "sent": len(step["ids"]),
                                          "changed": len(step["ids"])})
                result["queue_ids"].extend(step["ids"])
        failed = False
    finally:
        if action_name != "flush":
            changed, vanished, pending = _plan.account(plan, outcomes, failed)
            long_held = set(plan.long_held)
            result["queue_ids"] = changed
            result["requeued_long_held"] = [queue_id for queue_id in changed if queue_id in long_held]
        else:
            done = set(result["queue_ids"])
            vanished = []
            pending = [queue_id for queue_id in plan.queue_ids if queue_id not in done]
        result["vanished"] = vanished
        result["pending"] = pending
        result["changed_count"] = len(result["queue_ids"])
