# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Reading the runbook's per-host variables out of hostvars, for the controller-side filters."""

from __future__ import absolute_import, division, print_function

import json

from ansible.errors import AnsibleFilterError


def host_values(hostvars, hosts, names, filter_name):
    """{host: {name: value}} for the variables NAMES each host of HOSTS has, as plain JSON types."""
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("%s: hosts must be a list of inventory host names, got %r" % (filter_name, hosts))
    values = {}
    for host in [str(host) for host in hosts]:
        if host not in hostvars:
            raise AnsibleFilterError("%s: %s is not an inventory host" % (filter_name, host))
        facts = hostvars[host]
        values[host] = dict((name, facts[name]) for name in names if name in facts)
    # Plain JSON types from here on (what the filters return is written as JSON anyway).
    return json.loads(json.dumps(values))
