# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side filters for the fleet report (documented in fleet_report.yml and fleet_report_markdown.yml)."""

from __future__ import absolute_import, division, print_function

import json
import time

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import host_values
from ansible_collections.mailops.postfix.plugins.module_utils._report import (
    RESULT_KEYS, fleet_report as _fleet_report, render_markdown, verify_accounting as _verify_accounting)


def fleet_report(hostvars, hosts, top=10, title="Postfix queue report", generated=None, audit_log=None):
    """Merge the runbook's per-host facts (hostvars) for HOSTS into one report dict."""
    per_host = host_values(hostvars, hosts, RESULT_KEYS, "fleet_report")
    hosts = list(per_host)
    stamp = generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        return _fleet_report(per_host, hosts, stamp, top=int(top), title=str(title), audit_log=audit_log or None)
    except (ValueError, KeyError, TypeError) as error:
        raise AnsibleFilterError("fleet_report: the per-host results do not merge: %s" % error)


def fleet_report_markdown(report):
    """The report as Markdown, for a change ticket."""
    try:
        return render_markdown(report)
    except (KeyError, TypeError) as error:
        raise AnsibleFilterError("fleet_report_markdown: not a fleet report (%s)" % error)


def verify_accounting(after, assess=None, purge=None, requeue=None, junk_left=None, delivered=None):
    """The verify phase's per-host accounting (see the filter's documentation)."""
    plain = json.loads(json.dumps([after, assess, purge, requeue, junk_left, delivered]))
    if not isinstance(plain[0], dict) or "total" not in plain[0]:
        raise AnsibleFilterError("verify_accounting: the input must be a queue summary (postfix_queue_info's summary)")
    for name, value in (("junk_left", plain[4]), ("delivered", plain[5])):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise AnsibleFilterError("verify_accounting: %s must be a count or null, got %r" % (name, value))
    try:
        return _verify_accounting(*plain)
    except (KeyError, TypeError, AttributeError) as error:
        raise AnsibleFilterError("verify_accounting: unexpected phase results (%s)" % error)


class FilterModule(object):
    def filters(self):
        return {"fleet_report": fleet_report, "fleet_report_markdown": fleet_report_markdown,
                "verify_accounting": verify_accounting}
