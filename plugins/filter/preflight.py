# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's pre-flight filters (documented in runbook_problems.yml and host_problems.yml)."""

from __future__ import absolute_import, division, print_function


from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.plugin_utils import _preflight
from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import plain


def runbook_problems(values, phases):
    """Problems of the runbook's variables for PHASES (a list of role names), each naming its variable."""
    values = plain(values, "runbook_problems")
    if not isinstance(values, dict):
        raise AnsibleFilterError("runbook_problems: the input must be a dictionary {variable: value}")
    return _preflight.runbook_problems(values, list(phases or []))


def host_problems(instance, values, paths=None):
    """Problems of the runbook's variables on one host (its postfix_queue_info instance)."""
    instance, values, paths = (plain(value, "host_problems") for value in (instance, values, paths))
    if not isinstance(instance, dict) or not isinstance(values, dict):
        raise AnsibleFilterError("host_problems: expected the host's instance (a dictionary) and the variables")
    return _preflight.host_problems(instance, values, paths or {})


class FilterModule(object):
    def filters(self):
        return {"runbook_problems": runbook_problems, "host_problems": host_problems}
