# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_queue_action's steps: list -> select -> work list -> guards -> act in batches -> account.

The decisions are pure (_queue, _worklist, _postsuper, _incident, _changeplan); processes run only
in _postfix_cli, through one runner per module run. The two sequencers (_run, _reinject) fill the
result they are given as they go, so that a failure part-way returns the same keys with what was done
so far; the helpers they call return values.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import time

from ansible_collections.mailops.postfix.plugins.module_utils import _archive, _changeplan, _incident, _worklist
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI, PostfixError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import (
    Selector, compact, parse_duration, unique_messages)
from ansible_collections.mailops.postfix.plugins.module_utils._worklist import ActionError

THROTTLED = ("requeue", "release", "flush")
# The result's lists of messages, counted in ``counts``; the bare ID lists are left out with return_ids=false
# (those with reasons - not_applicable, skipped_changed - are always returned).
COUNTED = ("queue_ids", "vanished", "not_applicable", "pending", "requeued_long_held", "skipped_changed")
ID_LISTS = ("queue_ids", "vanished", "pending", "requeued_long_held")


def _empty_result(action):
    return {"action": action, "matched": 0, "changed_count": 0, "queue_ids": [], "vanished": [],
            "not_applicable": [], "requeued_long_held": [], "pending": [], "batches": [], "skipped_changed": []}


def run_action(params, check_mode, diff=False):
    """Run the action; returns (result, error message or None, warnings). ``diff``: add the diff (diff mode).

    A real run (not check mode) in which Postfix was asked to change something also writes one
    audit line to Postfix's own log (postlog): who, what, which IDs, and whether it failed.
    """
    cli = PostfixCLI.from_params(params)
    result = _empty_result(params["action"])
    warnings = []
    error = None
    try:
        check_option_rules(params)
        if params["action"] == "reinject":
            _reinject(cli, params, check_mode, result)
        else:
            _run(cli, params, check_mode, result, warnings, diff)
    except MailopsError as exc:
        error = str(exc)
    except OSError as exc:    # reading an archive to re-inject (the writer's errors are ActionErrors)
        error = str(exc)
    if not check_mode and (result["changed_count"] or result["batches"] or result["pending"]):
        trouble = _log_audit(cli, params, result, error)
        if trouble:
            warnings.append("the audit line could not be written to Postfix's log (postlog: %s)" % trouble)
    result["counts"] = dict((key, len(result[key])) for key in COUNTED)
    if not params["return_ids"]:
        for key in ID_LISTS:
            del result[key]
    return result, error, warnings


def _log_audit(cli, params, result, error):
    try:
        return cli.log("mailops.postfix", audit_text(params, result, error))
    except PostfixError as exc:
        return str(exc)


def check_option_rules(params):
    """The rules between options that the argument spec cannot declare (it declares required_if and
    mutually_exclusive: archive needs archive_dir, reinject needs archive, plan replaces the selection)."""
    action = params["action"]
    if params["archive"] and action != "reinject":
        raise ActionError("archive (an archive to re-inject) is only for action=reinject")
    if params["archive_dir"] and action not in ("archive", "delete"):
        raise ActionError("archive_dir is for action=archive and action=delete, not %s" % action)
    if action == "reinject":
        given = [name for name in Selector.OPTIONS if name != "queue_ids" and params[name]]
        if given or params["exclude"] or params["incident"] or params["plan"] is not None:
            raise ActionError("reinject takes archive and optionally queue_ids, not %s" % ", ".join(
                given + [name for name in ("exclude", "incident", "plan") if params[name] is not None]))


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


def _run(cli, params, check_mode, result, warnings, diff=False):
    action_name = params["action"]
    action = _worklist.ACTIONS[action_name]
    selector = Selector.from_params(params)
    instance = cli.instance()
    result["postfix_version"] = instance["mail_version"]
    result["instance"] = dict((k, instance[k]) for k in ("name", "config_dir", "queue_directory"))
    if action.min_version and tuple(instance["version"]) < action.min_version:
        raise ActionError("%s needs Postfix %s or newer; this is %s" % (
            action_name, ".".join(str(v) for v in action.min_version), instance["mail_version"]))
    source = cli.choose_source(params["source"], instance["version"])
    result["selection"] = selector.given
    exclude = Selector.from_options(params["exclude"], "exclude", selector.now) if params["exclude"] else None
    incident = _Incident(params["incident"], instance, selector.now, check_mode) if params["incident"] else None
    listed = unique_messages(cli.list_queue(source, selector.now))
    if incident:
        listed = incident.observe(listed)
    if params["plan"] is not None:
        result["plan_id"], selected, result["skipped_changed"] = _plan_messages(params, instance, selector.now, listed)
    else:
        selected = selector.select(listed)
    kept, excluded = [], 0
    for message in selected:    # exclude sees the parsed message; kept compact: 100,000 selected stay small
        if exclude and exclude.matches(message):
            excluded += 1
        else:
            kept.append(compact(message))
    selected = kept
    warnings.extend(cli.warnings)
    if exclude:
        result["excluded"] = excluded
    if incident:
        selected, result["incident"] = incident.narrow(action_name, selected)
    result["matched"] = len(selected)
    result["listed_at"] = selector.now
    result["matched_by_queue"] = _count_by_queue(selected)
    _worklist.check_guards(action_name, selector, len(selected), params["all"] or params["plan"] is not None,
                           params["max_messages"], params["expect_count"])
    lifetimes = None
    if action_name == "release":
        values = cli.postconf("maximal_queue_lifetime", "bounce_queue_lifetime")
        lifetimes = dict((k, _worklist.postfix_time(v)) for k, v in values.items())
    if action.flag is not None and os.geteuid() == 0:  # others are refused by postsuper itself
        _check_logging_while_stopped(cli, instance["queue_directory"])
    work = _worklist.work_list(action_name, selected, selector.now, params["long_held"], lifetimes)
    result["not_applicable"] = work.not_applicable
    if params["return_plan"]:
        planned = set(work.queue_ids)
        result["plan"] = _changeplan.host_plan(action_name, selector.given, instance["mail_version"], instance,
                                               selector.now, [m for m in selected if m["queue_id"] in planned])
    if diff:    # one line per message: built only when asked for
        result["diff"] = {"before": _worklist.diff_text(work.diff, "before"),
                          "after": _worklist.diff_text(work.diff, "after")}
    if params["archive_dir"] and check_mode:
        result["archive"] = {"directory": None, "count": len(work.queue_ids), "manifest": None}
    elif params["archive_dir"]:
        try:
            archived, gone, result["archive"] = _archive_first(cli, work, selected, params, instance, selector,
                                                               result.get("plan_id"))
        except _ArchiveFailed as exc:
            result["archive"] = exc.archive
            raise
        work.restrict_to(archived, gone)
    steps = [] if action_name == "archive" else _steps(cli, action, work, params["batch_size"], selector)
    if check_mode or action_name == "archive":
        result["batches"] = [{"command": step.shown, "sent": len(step.ids), "changed": len(step.ids)} for step in steps]
        result["queue_ids"] = work.queue_ids
        result["changed_count"] = len(work.queue_ids)
        result["requeued_long_held"] = list(work.requeued_long_held)
        result["vanished"] = list(work.vanished)
        return
    if incident:
        incident.intend(action_name, work.queue_ids)
    acted = _act(cli, work, steps, params, instance)
    for key in ("batches", "queue_ids", "requeued_long_held", "vanished", "pending"):
        result[key] = acted[key]
    result["changed_count"] = len(result["queue_ids"])
    if incident:
        incident.record(action_name, result)
    if acted["error"] is not None:
        raise acted["error"]
    if action_name == "requeue" or result["requeued_long_held"]:
        trouble = cli.wake_pickup() if result["changed_count"] else None
        if trouble:
            warnings.append("requeued mail waits in maildrop until pickup runs (postkick: %s)" % trouble)


def _count_by_queue(messages):
    counts = {}
    for message in messages:
        name = message["queue_name"] or "unknown"
        counts[name] = counts.get(name, 0) + 1
    return counts


class _Incident:
    """The incident option of one run: its ledger on the host, read before and written after acting."""

    def __init__(self, options, instance, now, check_mode):
        self.options = options
        self.now = now
        self.check_mode = check_mode
        self.path = _incident.ledger_path(options["state_dir"], instance["name"])
        self.ledger = _incident.read_ledger(self.path)
        self.instance = instance
        self.junk = Selector.from_options(options["junk"], "incident.junk", now) if options["junk"] else None
        self.hold_ids = []
        self.junk_ids = set()
        self.window_part = []
        self.junk_held = None

    def observe(self, listed):
        """Pass the listing through, noting what is on hold (and, with incident.junk, what is junk)."""
        for message in listed:
            if message["queue_name"] == "hold":
                self.hold_ids.append(message["queue_id"])
            if self.junk is not None and self.junk.matches(message):
                self.junk_ids.add(message["queue_id"])
            yield message

    def narrow(self, action_name, selected):
        """Keep the earlier hold out of the action (and, with scope, what the incident did not hold).

        Returns (the messages to act on, the result's incident summary)."""
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
        if action_name == "delete":
            _incident.purge_guard(self.ledger, kept)
        self.junk_held = self.ledger.get("junk_held")
        if action_name == "hold" and self.junk is not None and self.junk_held is None:
            held = set(m["queue_id"] for m in kept) | set(self.ledger["held"])
            self.junk_held = len(self.junk_ids & held)
        return kept, {"incident_id": self.ledger["incident_id"], "ledger": self.path,
                      "excluded_quarantine": quarantined, "selected_held": len(in_held),
                      "selected_window": len(in_window), "junk_held": self.junk_held}

    def intend(self, action_name, ids):
        """Write-ahead, before the first batch: what this run is about to do."""
        if self.check_mode or self.ledger is None or not ids:
            return
        _incident.intend(self.ledger, action_name, ids, self.now)
        _incident.write_ledger(self.path, self.ledger)

    def record(self, action_name, result):
        """Write what Postfix reported changed (and the window arrivals seen) to the ledger."""
        if self.check_mode or self.ledger is None:
            return
        if action_name == "hold" and self.ledger.get("junk_held") is None:
            self.ledger["junk_held"] = self.junk_held
        _incident.record(self.ledger, action_name, result["queue_ids"], self.window_part, self.now,
                         {"matched": result["matched"], "plan_id": result.get("plan_id")})
        _incident.write_ledger(self.path, self.ledger)


def _plan_messages(params, instance, now, listed):
    """A reviewed plan's messages still queued unchanged: returns (plan ID, them, those changed since)."""
    try:
        max_age = parse_duration(params["plan_max_age"], "plan_max_age")
        _changeplan.validate(params["plan"], params["action"], instance["config_dir"], now, max_age)
    except _changeplan.PlanError as exc:
        raise ActionError("plan refused, nothing was changed: %s" % exc)
    chosen, skipped_changed = _changeplan.match(params["plan"], listed)
    return params["plan"].get("plan_id"), chosen, skipped_changed


class _ArchiveFailed(ActionError):
    """Archiving stopped before any deletion; ``archive`` is the result's archive summary so far."""

    def __init__(self, message, archive):
        super(_ArchiveFailed, self).__init__(message)
        self.archive = archive


def _archive_first(cli, work, selected, params, instance, selector, plan_id):
    """Save every message of the work list (content and envelope) before anything is deleted.

    One mbox file per batch, durable before the next. A message gone since the listing (postcat
    cannot open it) is vanished. Any failure to read or write stops the whole action before a
    single deletion. Returns (IDs archived whole, IDs gone meanwhile, the result's archive summary).
    """
    by_id = dict((m["queue_id"], m) for m in selected)
    writer = _archive.ArchiveWriter(params["archive_dir"], instance["name"], selector.now)
    archived, vanished = [], []
    try:
        writer.open()
        for batch in _worklist.batches(work.queue_ids, params["batch_size"]) if work.queue_ids else []:
            writer.begin_batch()
            for kind, queue_id, printed in cli.postcat_messages(batch, _archive.split_postcat, _archive.missing_id):
                if kind == "gone":
                    vanished.append(queue_id)
                    continue
                sender, _recipients = _archive.envelope_of(printed["envelope"])
                writer.add(dict(by_id[queue_id], envelope_sender=sender), printed["content"])
                archived.append(queue_id)
            writer.end_batch()
        manifest = writer.close({
            "created": int(selector.now), "instance": instance["name"], "config_dir": instance["config_dir"],
            "postfix_version": instance["mail_version"], "action": params["action"],
            "selection": selector.given, "plan_id": plan_id, "operator": params["operator"]})
    except (OSError, _archive.ArchiveError, PostfixError) as exc:
        writer.abandon()
        raise _ArchiveFailed("archiving to %s failed (%s): nothing was deleted" % (writer.path, exc),
                             {"directory": writer.path, "count": len(archived), "manifest": None})
    return archived, vanished, {"directory": writer.path, "count": len(archived), "manifest": manifest}


def _reinject(cli, params, check_mode, result):
    """Submit archived messages again with their envelope (the way back from a purge)."""
    Selector.from_params(params)   # validates queue_ids (the only selection option reinject takes)
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
        return
    sending = set(todo)
    try:
        for entry, content in _archive.messages_of(path, manifest):   # the manifest as read once
            if entry["queue_id"] not in sending:
                continue
            cli.reinject(entry["envelope_sender"], entry["recipients"], content)
            result["queue_ids"].append(entry["queue_id"])
            done.add(entry["queue_id"])
    finally:
        _archive.record_reinjected(path, done)
        result["changed_count"] = len(result["queue_ids"])
        sent = set(result["queue_ids"])
        result["pending"] = [queue_id for queue_id in todo if queue_id not in sent]


def _check_logging_while_stopped(cli, queue_directory):
    """Refuse before any change when postsuper would stop after its first message.

    With Postfix stopped and maillog_file set, postsuper writes the log itself
    as the mail owner; if it cannot, it acts on one message and dies.
    """
    settings = cli.postconf("maillog_file", "mail_owner")
    if settings["maillog_file"] and not cli.running(queue_directory) and \
            not cli.writable_by(settings["maillog_file"], settings["mail_owner"]):
        raise ActionError(
            "Postfix is stopped and its maillog_file %s is not writable by %s: postsuper would act on one "
            "message and stop. Start Postfix, or make the log file writable by %s; nothing was changed"
            % (settings["maillog_file"], settings["mail_owner"], settings["mail_owner"]))


def _steps(cli, action, work, batch_size, selector):
    """The commands to run (each both run and shown): one per batch and per queue the messages were seen in."""
    if action.name == "flush":
        ids = work.queue_ids
        whole_deferred = selector.given.keys() <= {"queues"} and selector.given.get("queues") == ["deferred"]
        if whole_deferred and ids:
            return [cli.flush_all_step(ids)]
        return [cli.flush_step(batch) for batch in (_worklist.batches(ids, batch_size) if ids else [])]
    steps = []
    for queues, ids in sorted(work.by_queue.items()):
        steps.extend(cli.postsuper_step(action.flag, batch, queues) for batch in _worklist.batches(ids, batch_size))
    for batch in _worklist.batches(work.requeued_long_held, batch_size) if work.requeued_long_held else []:
        steps.append(cli.postsuper_step("r", batch, ("hold",)))
    return steps


def _act(cli, work, steps, params, instance):
    """Run the steps in order, stopping at the first failure.

    Returns the result's keys for what was done - batches, queue_ids, requeued_long_held, vanished,
    pending - and ``error``: None, or the failure that stopped the run (the keys then say how far it got).
    """
    batches, outcomes, flushed = [], [], []
    throttled = work.action.name in THROTTLED and params["max_active"] is not None
    error = None
    try:
        for index, step in enumerate(steps):
            if index and params["batch_pause"]:
                time.sleep(params["batch_pause"])
            if throttled:
                cli.wait_in_flight_below(instance["queue_directory"], params["max_active"], params["max_active_timeout"])
            rc, outcome = cli.run_step(step)
            if step.kind != "postsuper":
                batches.append({"command": step.shown, "sent": len(step.ids), "changed": len(step.ids)})
                flushed.extend(step.ids)
                continue
            outcomes.append((step.flag, step.ids, outcome))
            batches.append({"command": step.shown, "sent": len(step.ids),
                            "changed": len(_worklist.reported(step.flag, outcome).intersection(step.ids))})
            if rc != 0 or outcome.fatal or not outcome.consistent or outcome.other:
                raise PostfixError("%s stopped part-way (exit %s): %s" % (
                    step.shown, rc,
                    outcome.fatal or "; ".join(outcome.other) or "its totals disagree with its per-message lines"))
    except MailopsError as exc:
        error = exc
    if work.action.name == "flush":
        done = set(flushed)
        changed, vanished = flushed, []
        pending = [queue_id for queue_id in work.queue_ids if queue_id not in done]
    else:
        changed, vanished, pending = _worklist.account(work, outcomes, error is not None)
    long_held = set(work.requeued_long_held)
    return {"batches": batches, "queue_ids": changed, "vanished": vanished, "pending": pending,
            "requeued_long_held": [queue_id for queue_id in changed if queue_id in long_held], "error": error}
