# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's per-host figures (documented in assessment.yml, phase_result.yml, verify_accounting.yml and
restriction_first.yml): module results in, the phases' facts out."""

from __future__ import absolute_import, division, print_function

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.plugin_utils import _runbook


def _plain(value):
    return json.loads(json.dumps(value))


def _guarded(function, name):
    def run(*args, **kwargs):
        try:
            return function(*[_plain(arg) for arg in args], **dict((k, _plain(v)) for k, v in kwargs.items()))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise AnsibleFilterError("%s: unexpected input (%s)" % (name, error))
    run.__doc__ = function.__doc__
    return run


class FilterModule(object):
    def filters(self):
        return dict((name, _guarded(getattr(_runbook, name), name))
                    for name in ("assessment", "phase_result", "verify_accounting", "restriction_first"))
