#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: runbook_phase
short_description: A phase of the runbook as one task - its module runs in order, the facts it keeps set once
version_added: 0.1.0
description:
  - Runs the I(steps) one after the other on the host, each as a task of its own would run it - through the module's
    action plugin when it has one (M(mailops.postfix.postfix_queue_action)'s audit log and operator), with the task's
    C(module_defaults) - and stops at the first that fails.
  - Keeps what each step returned in the host variables its I(facts) name, read on the B(controller) (the names are
    the task's, never a host's). From ansible-core 2.21 they are set as C(ansible.builtin.set_fact) sets them, once,
    when every step succeeded - never as host facts (C(ansible_facts)), which would outlive the run in a fact cache
    and rank below play variables; on earlier versions the task returns them as C(kept_facts) for the next task to
    set (the runbook's roles do). When a step fails the phase fails with that step's message and returns the facts
    of the steps before it as C(kept_facts), which the runbook's rescue keeps - a window opened before the failure
    is still reported.
  - Used by the runbook's roles (preflight, assess, hold, purge, requeue) - one task per phase instead of a task per module
    run and one per fact, about 40-50 ms of controller CPU per task and host (docs/performance.md).
    In a playbook of your own, plain tasks with C(register) do the same.
  - Runs in the controller's own process (an action plugin); the modules it runs run on the host.
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Each step runs in check mode as its module supports it.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  phase:
    description: The phase's name, for the messages.
    type: str
    required: true
  steps:
    description:
      - The module runs, in order. Each is a dictionary with C(module) (a module's fully qualified name, required),
        C(args) (its options, default none), C(facts) (the host variables that keep what it returned, each named with
        what it keeps, below; default none), C(skip) (true - the step is not run, its facts not set; default false),
        C(may_fail) (true - a failure of this step does not fail the phase - its facts that keep C(result) keep the
        failed result for the tasks after it to judge, its other facts are not set; default false) and
        C(require_running) (true - the phase fails after this step, its facts kept, unless the step's result shows
        the Postfix instance running; default false).
      - What a fact keeps - C(result) the module's result; C(incident) its C(incident); C(instance)
        M(mailops.postfix.postfix_queue_info)'s C(instance) with its C(incident) and C(postfix_version) (the runbook's
        C(mailops_postfix)); C(assessment) the runbook's C(assess_result) from M(mailops.postfix.postfix_queue_info)'s
        result; C(hold), C(purge), C(requeue) the phase's C(hold_result), C(purge_result) or C(requeue_result) from
        M(mailops.postfix.postfix_queue_action)'s result (docs/runbook.md).
    type: list
    elements: dict
    required: true
notes:
  - A step's options are templated with the task, before any step runs - a step can not use an earlier step's result.
seealso:
  - module: mailops.postfix.postfix_queue_info
  - module: mailops.postfix.postfix_queue_action
  - module: mailops.postfix.postfix_incident
"""

EXAMPLES = r"""
- name: Hold - the incident window opens, then the queues go on hold
  mailops.postfix.runbook_phase:
    phase: hold
    steps:
      - module: mailops.postfix.postfix_incident
        args: {state: open}
        facts: {hold_incident: incident}
      - module: mailops.postfix.postfix_queue_action
        args: {action: hold, queues: [deferred, active, incoming]}
        facts: {hold_result: hold}
"""

RETURN = r"""
steps:
  description: Each step's module result, with C(module); a skipped step is C({module, skipped=true}).
  returned: always
  type: list
  elements: dict
kept_facts:
  description:
    - The facts the steps kept, for a task after this one to set - when a step failed (the facts of the steps before
      it), or on ansible-core before 2.21 (all of them).
  returned: failed, or on ansible-core before 2.21
  type: dict
  sample: {hold_incident: {incident_id: 20261206T181500Z-a1b2c3, window_open: true}}
facts_set:
  description: The names of the facts set on the host (ansible-core 2.21 and later, when every step succeeded).
  returned: success on ansible-core 2.21 and later
  type: list
  elements: str
  sample: [hold_incident, hold_result]
"""
