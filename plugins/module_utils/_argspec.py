# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The options both modules share: the instance and the selection.

plugins/doc_fragments/postfix.py documents exactly what is declared here.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import TOOLS, PostfixCLI
from ansible_collections.mailops.postfix.plugins.module_utils._queue import QUEUE_NAMES, SelectionError, Selector


def instance_argument_spec():
    return dict(
        config_dir=dict(type="path"),
        postfix_bin_dir=dict(type="path"),
        postfix_tool_paths=dict(type="dict", options=dict((tool, dict(type="path")) for tool in TOOLS)),
        source=dict(type="str", choices=["auto", "json", "text"], default="auto"),
    )


def selection_argument_spec():
    return dict(
        queue_ids=dict(type="list", elements="str"),
        queues=dict(type="list", elements="str", choices=list(QUEUE_NAMES)),
        sender=dict(type="list", elements="str"),
        sender_domain=dict(type="list", elements="str"),
        sender_regex=dict(type="str"),
        recipient=dict(type="list", elements="str"),
        recipient_domain=dict(type="list", elements="str"),
        recipient_regex=dict(type="str"),
        reason_regex=dict(type="str"),
        recipient_match=dict(type="str", choices=["any", "all"], default="any"),
        older_than=dict(type="raw"),
        younger_than=dict(type="raw"),
        arrived_before=dict(type="raw"),
        arrived_after=dict(type="raw"),
        min_size=dict(type="raw"),
        max_size=dict(type="raw"),
    )


def shared_argument_spec():
    spec = instance_argument_spec()
    spec.update(selection_argument_spec())
    return spec


def cli_from_params(params):
    return PostfixCLI(config_dir=params["config_dir"], bin_dir=params["postfix_bin_dir"],
                      tool_paths=params["postfix_tool_paths"])


def selector_from_params(params, now=None):
    options = dict((name, params[name]) for name in Selector.OPTIONS)
    return Selector(recipient_match=params["recipient_match"], now=now, **options)


def selector_from_dict(options, name, now=None):
    """A Selector from a nested selection (exclude, incident.junk); an empty one is refused."""
    if not isinstance(options, dict):
        raise SelectionError("%s: expected a dictionary of selection options, got %r" % (name, options))
    unknown = sorted(set(options) - set(Selector.OPTIONS) - {"recipient_match"})
    if unknown:
        raise SelectionError("%s: unknown selection option(s) %s (known: %s, recipient_match)"
                             % (name, ", ".join(unknown), ", ".join(Selector.OPTIONS)))
    try:
        selector = Selector(recipient_match=options.get("recipient_match") or "any", now=now,
                            **dict((key, options.get(key)) for key in Selector.OPTIONS))
    except SelectionError as exc:
        raise SelectionError("%s.%s" % (name, exc))
    if selector.is_empty:
        raise SelectionError("%s: no selection option given (it would match every message)" % name)
    return selector
