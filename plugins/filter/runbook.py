# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's per-host figures (documented in assessment.yml, phase_result.yml, verify_accounting.yml,
restriction_first.yml and submitters_without.yml): module results in, the phases' facts out; the fleet controls
(fleet_halt.yml); and the state directory's one default (state_dir.yml)."""

from __future__ import absolute_import, division, print_function


from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mailops.postfix.plugins.module_utils import _access
from ansible_collections.mailops.postfix.plugins.module_utils._incident import DEFAULT_STATE_DIR
from ansible_collections.mailops.postfix.plugins.plugin_utils import _runbook
from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import host_values, plain


def _guarded(function, name):
    def run(*args, **kwargs):
        try:
            return function(*[plain(arg, name) for arg in args], **{k: plain(v, name) for k, v in kwargs.items()})
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise AnsibleFilterError("%s: unexpected input (%s)" % (name, error))
    run.__doc__ = function.__doc__
    return run


def state_dir(value=None):
    """The directory of the incident ledgers and kept plans on the hosts: VALUE (mailops_state_dir) when given, else the
    collection's default - the one the modules use (_incident.DEFAULT_STATE_DIR)."""
    if value in (None, ""):
        return DEFAULT_STATE_DIR
    if not isinstance(value, str):
        raise AnsibleFilterError("state_dir: expected a path, got %r" % (value,))
    return value


def fleet_halt(hostvars, hosts, stop_on_error=False, max_fail_percentage=100):
    """The fleet controls: end the play when too many of HOSTS failed in the runbook (mailops_failure)."""
    failed = [host for host, values in host_values(hostvars, hosts, ["mailops_failure"], "fleet_halt").items()
              if "mailops_failure" in values]
    try:
        # a boolean as Ansible reads one (extra vars give strings: "true", "no", ...), anything else refused
        return _runbook.fleet_halt(len(failed), len(hosts), boolean(stop_on_error, strict=True), max_fail_percentage)
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError("fleet_halt: mailops_stop_on_error must be a boolean and mailops_max_fail_percentage "
                                 "a number from 0 to 100 (%s)" % error)


class FilterModule(object):
    def filters(self):
        found = {name: _guarded(getattr(_runbook, name), name)
                 for name in ("assessment", "phase_result", "verify_accounting")}
        found.update({name: _guarded(getattr(_access, name), name) for name in ("restriction_first", "submitters_without")})
        found["fleet_halt"] = fleet_halt
        found["state_dir"] = state_dir
        return found
