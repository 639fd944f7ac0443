# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for change-managed plans (documented in fleet_plan.yml, plan_for.yml, plan_markdown.yml)."""

from __future__ import absolute_import, division, print_function

import json
import time

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.module_utils import _changeplan
from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import host_values


def fleet_plan(hostvars, hosts, fact, operator="unknown", title="Postfix queue plan", created=None):
    """Merge each host's plan (the registered module result, or its plan, in host variable FACT)."""
    parts = {}
    for host, values in host_values(hostvars, hosts, [fact], "fleet_plan").items():
        value = values.get(fact)
        if isinstance(value, dict) and "plan" in value:
            value = value["plan"]
        parts[host] = value or None
    return _changeplan.fleet_plan(parts, created if created is not None else time.time(), str(operator), str(title))


def plan_for(plan, host):
    """HOST's part of a fleet plan (with the plan's ID), or None when the plan names no message there."""
    try:
        return _changeplan.part_for(json.loads(json.dumps(plan)), str(host))
    except _changeplan.PlanError as exc:
        raise AnsibleFilterError("plan_for: %s" % exc)


def plan_markdown(plan):
    try:
        return _changeplan.render_markdown(plan)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("plan_markdown: not a fleet plan (%s)" % exc)


class FilterModule(object):
    def filters(self):
        return {"fleet_plan": fleet_plan, "plan_for": plan_for, "plan_markdown": plan_markdown}
