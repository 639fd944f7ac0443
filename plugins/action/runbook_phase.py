# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A phase of the runbook as one task: its module runs one after the other, the facts it keeps set once.

Each step runs as its own task would - through the module's action plugin when it has one (the operator's name,
the audit log), with the task's module_defaults - on the same connection, in this one forked worker. The facts
come from the controller's own reading of the results (plugin_utils._runbook): their names are the task's, never a
host's. When a step fails, the phase fails with that step's message, and the facts of the steps before it are
returned as ``kept_facts`` for the runbook's rescue (playbooks/tasks/failed.yml) to keep - a window opened before a
failure is still reported.

A step can wait (``until_empty``: run again while a subset of its result holds messages - verify's wait for released
mail). Two phases conclude on the controller once their steps ran: the pre-flight (``preflight``: refuse the host when
the run's variables or the host are wrong) and the verify (``account``: the accounting, kept as a fact, failing the
phase when it does not add up) - both pure code in plugin_utils (_preflight.admission, _runbook.verify_accounting).
"""

from __future__ import absolute_import, division, print_function

import time

from ansible.errors import AnsibleAction, AnsibleActionSkip, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.mailops.postfix.plugins.plugin_utils import _runbook
from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import plain

try:  # ansible-core 2.21 and later: an action sets host variables as set_fact does (not host facts)
    from ansible.plugins.action import VariableLayer
except ImportError:  # ansible-core 2.20 and earlier: the role's next task sets them from kept_facts
    VariableLayer = None

try:  # ansible-core 2.19 and later: module_defaults for a module an action plugin runs itself
    from ansible.executor.module_common import _apply_action_arg_defaults
    get_action_args_with_defaults = None
except ImportError:  # pragma: no cover - ansible-core 2.17 and 2.18
    _apply_action_arg_defaults = None
    from ansible.executor.module_common import get_action_args_with_defaults


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("phase", "steps", "account", "preflight"))

    def _with_defaults(self, module, args):
        if _apply_action_arg_defaults is not None:
            return _apply_action_arg_defaults(module, self._task, args, self._templar)
        return get_action_args_with_defaults(module, args, self._task.module_defaults, self._templar,  # pragma: no cover
                                             action_groups=self._task._parent._play._action_groups)

    def _run_step(self, module, args, task_vars):
        """One step, as a task of its own would run it (its action plugin, or the module through 'normal')."""
        task = self._task.copy()
        task.action = module
        task.args = self._with_defaults(module, args)
        actions = self._shared_loader_obj.action_loader
        handler = actions.get(module if actions.has_plugin(module, collection_list=self._task.collections)
                              else "ansible.legacy.normal",
                              task=task, connection=self._connection, play_context=self._play_context,
                              loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        try:
            return handler.run(task_vars=task_vars)
        except AnsibleError as exc:
            # what the task executor would make of it for a task of its own: the action's result, failed or skipped
            outcome = dict(exc.result) if isinstance(exc, AnsibleAction) else {}
            outcome.update(msg=to_text(exc.message))
            outcome["skipped" if isinstance(exc, AnsibleActionSkip) else "failed"] = True
            return outcome

    def _run_until(self, number, step, args, task_vars):
        """The step, run again (step's retries, delay seconds apart) while the subset it waits on is not empty.

        Returns its last outcome and why the phase fails there (None: go on)."""
        tries = 0
        while True:
            tries += 1
            outcome = self._run_step(step["module"], args, task_vars)
            if outcome.get("failed") or outcome.get("unreachable") or outcome.get("skipped"):
                return outcome, None
            try:
                waiting = _runbook.unsettled(step, outcome)
            except ValueError as exc:
                return outcome, "step %d (%s): %s" % (number, step["module"], exc)
            if step["until_empty"] is not None:
                outcome["attempts"] = tries
            if not waiting:
                return outcome, None
            if tries > step["retries"]:
                return outcome, ("step %d (%s): %d messages were still in the subset %s after %d tries, %s s apart"
                                 % (number, step["module"], waiting, step["until_empty"], tries, step["delay"]))
            time.sleep(step["delay"])

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        host = task_vars.get("inventory_hostname")
        try:
            steps = _runbook.phase_steps(self._task.args)
            # what the controller's own code reads, as plain JSON types (Ansible's wrappers gone)
            conclusions = {key: plain(self._task.args[key], "runbook_phase")
                           for key in ("account", "preflight") if key in self._task.args}
            account = _runbook.phase_account(conclusions, steps)
            preflight = _runbook.phase_preflight(conclusions, steps)
        except (ValueError, AnsibleError) as exc:
            result.update(failed=True, msg="runbook_phase: %s. Nothing was run." % exc)
            return result
        omit = task_vars.get("omit")
        facts, done, failure = {}, [], None
        for number, step in enumerate(steps, 1):
            if step["skip"]:
                done.append({"module": step["module"], "skipped": True})
                facts.update(_runbook.step_facts(step, {"skipped": True}))
                continue
            outcome, failure = self._run_until(number, step, _runbook.strip_omitted(step["args"], omit), task_vars)
            done.append(dict(outcome, module=step["module"]))
            if outcome.get("unreachable"):
                result.update(unreachable=True, msg=outcome.get("msg"))
                break
            if failure:
                break
            if outcome.get("failed") and not step["may_fail"]:
                failure = outcome.get("msg") or "%s failed" % step["module"]
                break
            facts.update(_runbook.step_facts(step, outcome))
            failure = _runbook.not_running(outcome, host) if step["require_running"] else None
            if failure:
                break
        if preflight is not None and not failure and not result.get("unreachable"):
            failure = _runbook.preflight(preflight, done, host)
        if account is not None and not failure and not result.get("unreachable"):
            kept, failure = _runbook.account(account, done, bool(self._task.check_mode), host)
            if kept is not None:
                facts[account["fact"]] = kept
                result["msg"] = kept.get("summary_line")
        result["steps"] = done
        result["changed"] = any(outcome.get("changed") for outcome in done)
        # the interpreter a step discovered, kept as a task of its own would keep it (a host fact)
        discovered = {key: value for outcome in done for key, value in (outcome.get("ansible_facts") or {}).items()
                      if key.startswith("discovered_interpreter_")}
        if VariableLayer is not None:
            # always, even empty: the host then has host facts of its own. ansible-core 2.21 stores one and the same
            # dictionary as the host facts of every host that has none yet when a run_once set_fact runs, and a later
            # task's host facts then land on every such host (an interpreter discovered on one, for all of them).
            self.register_host_variables(discovered, VariableLayer.CACHEABLE_FACT)
        elif discovered:
            result["ansible_facts"] = discovered
        if failure:
            result.update(failed=True, msg=failure, kept_facts=facts)
        elif not result.get("unreachable"):
            # Never as host facts (``ansible_facts``): those outlive the run in a fact cache and rank below play
            # variables. As set_fact sets them where the core lets an action do so; else the role's next task does.
            if VariableLayer is not None:
                self.register_host_variables(facts, VariableLayer.EPHEMERAL_FACT)
                result["facts_set"] = sorted(facts)
            else:
                result["kept_facts"] = facts
        return result
