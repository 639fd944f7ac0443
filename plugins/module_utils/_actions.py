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

import os
import time

from ansible_collections.mailops.postfix.plugins.module_utils import _plan
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import cli_from_params, selector_from_params
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import (
    QueueParseError, SelectionError, unique_messages)

THROTTLED = ("requeue", "release", "flush")


def _empty_result(action):
    return {"action": action, "matched": 0, "changed_count": 0, "queue_ids": [], "vanished": [],
            "not_applicable": [], "requeued_long_held": [], "pending": [], "batches": []}


def run_action(params, check_mode):
    """Run the action; returns (result, error message or None, warnings)."""
    action_name = params["action"]
    result = _empty_result(action_name)
    warnings = []
    try:
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
        selected = list(selector.select(unique_messages(cli.list_queue(source, selector.now))))
        warnings.extend(cli.warnings)
        result["matched"] = len(selected)
        _plan.check_guards(action_name, selector, len(selected), params["all"], params["max_messages"],
                           params["expect_count"])
        lifetimes = None
        if action_name == "release":
            values = cli.postconf("maximal_queue_lifetime", "bounce_queue_lifetime")
            lifetimes = dict((k, _plan.postfix_time(v)) for k, v in values.items())
        if action.flag is not None and os.geteuid() == 0:  # others are refused by postsuper itself
            _check_logging_while_stopped(cli, instance["queue_directory"])
        plan = _plan.plan(action_name, selected, selector.now, params["long_held"], lifetimes)
        result["not_applicable"] = plan.cannot
        result["diff"] = {"before": _plan.diff_text(plan.diff, "before"), "after": _plan.diff_text(plan.diff, "after")}
        steps = _steps(cli, action, plan, params["batch_size"], selector)
        if check_mode:
            result["batches"] = [{"command": " ".join(step["argv"]), "sent": len(step["ids"]), "changed": len(step["ids"])}
                                 for step in steps]
            result["queue_ids"] = plan.queue_ids
            result["changed_count"] = len(plan.queue_ids)
            result["requeued_long_held"] = list(plan.long_held)
            result["vanished"] = list(plan.already)
            return result, None, warnings
        _act(cli, action_name, plan, steps, params, instance, result)
        return result, None, warnings
    except (SelectionError, QueueParseError, PostfixError, _plan.ActionError) as exc:
        return result, str(exc), warnings


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
    try:
        for index, step in enumerate(steps):
            if index and params["batch_pause"]:
                time.sleep(params["batch_pause"])
            if throttled:
                cli.wait_in_flight_below(instance["queue_directory"], params["max_active"], params["max_active_timeout"])
            if step["kind"] == "postsuper":
                rc, outcome = cli.postsuper(step["flag"], step["ids"], step["queues"])
                outcomes.append((step["flag"], step["ids"], outcome))
                changed_here = len(_plan.account(plan.action, plan, [outcomes[-1]])[0])
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
    finally:
        if action_name != "flush":
            changed, vanished, pending = _plan.account(plan.action, plan, outcomes)
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
