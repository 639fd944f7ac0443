# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of postfix_queue_action: the operator's name, and the audit log.

Runs the module unchanged, then, when ``audit_log`` is set and the run is not in check mode, appends
one JSON line per host to that file on the controller. Forks append under an exclusive lock, one
``write`` each, so records from parallel hosts never interleave.
"""

from __future__ import absolute_import, division, print_function

import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mailops.postfix.plugins.plugin_utils._audit import append_line, controller_user

COUNTED = ("vanished", "not_applicable", "pending", "skipped_changed", "requeued_long_held")


def audit_record(host, operator, args, result, now):
    archive = result.get("archive") or {}
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "operator": operator,
        "host": host,
        "instance": result.get("instance"),
        "postfix_version": result.get("postfix_version"),
        "action": args.get("action"),
        "selection": result.get("selection"),
        "plan_id": result.get("plan_id"),
        "result": "failed" if result.get("failed") else "ok",
        "msg": result.get("msg") if result.get("failed") else None,
        "matched": result.get("matched"),
        "changed_count": result.get("changed_count"),
        "counts": {key: (result.get("counts") or {}).get(key, len(result.get(key) or [])) for key in COUNTED},
        # None when the run was asked not to return them (return_ids=false): the host keeps them
        "queue_ids": result.get("queue_ids") if "queue_ids" in result or "counts" in result else [],
        "skipped_changed": result.get("skipped_changed") or [],
        "archive": archive.get("directory"),
    }


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("operator"):
            args["operator"] = controller_user()
        audit_log = args.get("audit_log")
        if audit_log:
            audit_log = os.path.expanduser(str(audit_log))
            args["audit_log"] = audit_log
        result.update(self._execute_module(module_name="mailops.postfix.postfix_queue_action", module_args=args,
                                           task_vars=task_vars))
        if audit_log and not self._play_context.check_mode and not result.get("skipped"):
            record = audit_record(task_vars.get("inventory_hostname"), args["operator"], args, result, time.time())
            try:
                append_line(audit_log, record)
            except (OSError, IOError) as exc:
                raise AnsibleActionFail("the action ran (%s), but its audit record could not be written to %s: %s"
                                        % ("failed" if result.get("failed") else "ok", audit_log, exc), result=result)
            result["audit_log"] = audit_log
        return result
