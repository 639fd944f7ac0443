# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side filters for the fleet report (documented in fleet_report.yml, fleet_report_markdown.yml,
fleet_report_html.yml, fleet_report_artifact.yml, fleet_report_junit.yml and fleet_report_merge.yml)."""

from __future__ import absolute_import, division, print_function

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import host_values, plain
from ansible_collections.mailops.postfix.plugins.plugin_utils._report_html import render_report
from ansible_collections.mailops.postfix.plugins.plugin_utils._report import (
    RESULT_KEYS, artifact, fleet_report as _fleet_report, junit, merge_reports, render_markdown)


def fleet_report(hostvars, hosts, top=10, title="Postfix queue report", generated=None, audit_log=None):
    """Merge the runbook's per-host facts (hostvars) for HOSTS into one report dict."""
    per_host = host_values(hostvars, hosts, RESULT_KEYS, "fleet_report")
    hosts = list(per_host)
    stamp = generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        return _fleet_report(per_host, hosts, stamp, top=int(top), title=str(title), audit_log=audit_log or None)
    except (ValueError, KeyError, TypeError) as error:
        raise AnsibleFilterError("fleet_report: the per-host results do not merge: %s" % error)


def fleet_report_merge(reports, title=None, generated=None):
    """One report from the reports (report.json contents or mailops_report artifacts) of disjoint slices."""
    if not isinstance(reports, (list, tuple)):
        raise AnsibleFilterError("fleet_report_merge: expected a list of reports")
    stamp = generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        return merge_reports(plain(list(reports), "fleet_report_merge"), stamp, title)
    except (ValueError, KeyError, TypeError) as error:
        raise AnsibleFilterError("fleet_report_merge: %s" % error)


def _rendering(function, name):
    def render(report):
        try:
            return function(plain(report, name))
        except (KeyError, TypeError, AttributeError) as error:
            raise AnsibleFilterError("%s: not a fleet report (%s)" % (name, error))
    render.__doc__ = function.__doc__
    return render


class FilterModule(object):
    def filters(self):
        return {"fleet_report": fleet_report,
                "fleet_report_markdown": _rendering(render_markdown, "fleet_report_markdown"),
                "fleet_report_html": _rendering(render_report, "fleet_report_html"),
                "fleet_report_artifact": _rendering(artifact, "fleet_report_artifact"),
                "fleet_report_junit": _rendering(junit, "fleet_report_junit"),
                "fleet_report_merge": fleet_report_merge}
