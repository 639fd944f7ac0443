# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
name: plan_inputs
short_description: The names of the runbook's inputs a plan records and an apply run takes from it
version_added: 0.1.0
author: mailops.postfix contributors (@mailops)
description:
  - Returns the names of the variables whose effective values the runbook's plan records (the junk, the blocks, the
    window, the ceiling, ...) - the one list the P(mailops.postfix.plan#role) role, the plan's ID and the apply run's
    allow-list share. An apply run takes no other variable from a plan.
options: {}
"""

EXAMPLES = r"""
- name: The approved inputs' current values
  ansible.builtin.debug:
    msg: "{{ dict(query('mailops.postfix.plan_inputs') | zip(query('ansible.builtin.vars', *query('mailops.postfix.plan_inputs')))) }}"
"""

RETURN = r"""
_raw:
  description: The variables' names.
  type: list
  elements: str
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.mailops.postfix.plugins.plugin_utils._runbook_plan import INPUTS


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return list(INPUTS)
