# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""An action's plan: fingerprints of selected messages, and applying exactly a reviewed plan.

PURE, stdlib only. A plan is made by a check-mode run (postfix_queue_action with return_plan): per
message, a fingerprint - queue_id, arrival_time, sender, the number and a sha256 of the sorted
recipient addresses still queued, and message_size. Applying the plan acts only on messages listed
again with the same fingerprint; anything else planned is reported as skipped_changed with the
reason: gone (delivered, deleted, requeued under a new ID) or changed (a short queue ID reused by
another message, recipients delivered since, ...). The runbook's plan, which carries one of these per
host for its purge, is the controller's (plugins/plugin_utils/_runbook_plan.py).
"""

from __future__ import absolute_import, division, print_function

import hashlib


from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import addresses

FORMAT = 1
FIELDS = ("queue_id", "arrival_time", "sender", "recipients", "recipients_sha256", "message_size")


class PlanError(MailopsError):
    """A plan that cannot be applied here (stale, malformed, for another action or instance)."""


def fingerprint(message):
    """The fingerprint of one listed message (a _queue message dict, parsed or compact)."""
    recipients = sorted(addresses(message))
    return {
        "queue_id": message["queue_id"],
        "arrival_time": message["arrival_time"],
        "sender": message["sender"],
        "recipients": len(recipients),
        "recipients_sha256": hashlib.sha256("\n".join(recipients).encode("utf-8")).hexdigest(),
        "message_size": message["message_size"],
    }


def host_plan(action, selection, postfix_version, instance, created, messages):
    """One host's plan: what a check-mode run selected, fingerprinted, sorted by queue ID."""
    return {
        "format": FORMAT,
        "action": action,
        "selection": selection,
        "postfix_version": postfix_version,
        "instance": {"name": instance["name"], "config_dir": instance["config_dir"]},
        "created": int(created),
        "messages": sorted((fingerprint(message) for message in messages), key=lambda entry: entry["queue_id"]),
    }


def validate(part, action, config_dir, now, max_age):
    """Refuse a host plan that is malformed, for another action or instance, or older than max_age."""
    if not isinstance(part, dict) or part.get("format") != FORMAT or not isinstance(part.get("messages"), list):
        raise PlanError("not a plan of format %d (make one with a check-mode run and return_plan)" % FORMAT)
    for entry in part["messages"]:
        if not isinstance(entry, dict) or any(field not in entry for field in FIELDS):
            raise PlanError("a planned message lacks one of %s: %r" % (", ".join(FIELDS), entry))
    if part.get("action") != action:
        raise PlanError("the plan is for action=%s, not %s" % (part.get("action"), action))
    planned_dir = (part.get("instance") or {}).get("config_dir")
    if planned_dir != config_dir:
        raise PlanError("the plan is for the instance at %s, not %s" % (planned_dir, config_dir))
    created = part.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise PlanError("the plan has no creation time")
    age = now - created
    if age > max_age:
        raise PlanError("the plan is %d s old, older than plan_max_age (%d s): make a new one" % (age, max_age))
    if age < -300:
        raise PlanError("the plan was made %d s in the future: check the clocks" % -age)


def match(part, listed):
    """Split the listed messages by the plan: (messages to act on, skipped_changed entries).

    ``listed`` are the messages listed now (unique). A planned ID listed with the same fingerprint is
    acted on; with another fingerprint it is skipped as changed (each differing field named); a
    planned ID not listed is skipped as gone. Messages the plan does not name are never touched.
    """
    planned = dict((entry["queue_id"], entry) for entry in part["messages"])
    chosen, skipped, seen = [], [], set()
    for message in listed:
        entry = planned.get(message["queue_id"])
        if entry is None:
            continue
        seen.add(message["queue_id"])
        now = fingerprint(message)
        differing = [field for field in FIELDS if now[field] != entry[field]]
        if differing:
            skipped.append({"queue_id": message["queue_id"], "reason": "changed since the plan: %s"
                            % ", ".join(differing)})
        else:
            chosen.append(message)
    for queue_id in sorted(set(planned) - seen):
        skipped.append({"queue_id": queue_id, "reason": "gone since the plan (delivered, deleted or requeued)"})
    return chosen, sorted(skipped, key=lambda entry: entry["queue_id"])
