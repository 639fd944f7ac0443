# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The controller-side filters' inputs: the runbook's per-host variables out of hostvars, and any value
as plain JSON types (what the pure code in plugin_utils is given)."""

from __future__ import absolute_import, division, print_function

import json
from typing import Any, Dict, Iterable

from ansible.errors import AnsibleFilterError


def host_values(hostvars: Any, hosts: Iterable[str], names: Iterable[str], filter_name: str) -> Dict[str, Dict[str, Any]]:
    """{host: {name: value}} for the variables NAMES each host of HOSTS has, as plain JSON types."""
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("%s: hosts must be a list of inventory host names, got %r" % (filter_name, hosts))
    values = {}
    for host in [str(host) for host in hosts]:
        if host not in hostvars:
            raise AnsibleFilterError("%s: %s is not an inventory host" % (filter_name, host))
        facts = hostvars[host]
        values[host] = {name: facts[name] for name in names if name in facts}
    return plain(values, filter_name)


def plain(value: Any, filter_name: str) -> Any:
    """VALUE as plain JSON types - Ansible's own wrappers gone (what the filters return is written as JSON
    anyway); a value that is not plain data is refused, naming the filter."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("%s: the input is not plain data (%s)" % (filter_name, exc))
