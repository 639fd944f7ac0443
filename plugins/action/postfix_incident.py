# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of postfix_incident: the operator's name for the ledger and the log line."""

from __future__ import absolute_import, division, print_function

from ansible.plugins.action import ActionBase

from ansible_collections.mailops.postfix.plugins.plugin_utils._audit import controller_user


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("operator"):
            args["operator"] = controller_user()
        result.update(self._execute_module(module_name="mailops.postfix.postfix_incident", module_args=args,
                                           task_vars=task_vars))
        return result
