# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_queue_info's steps: the instance -> the listing -> (the queue files the costlier options need) ->
the selection, its summary, who is sending -> the incident. It only reads.
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _content, _incident, _verdicts
from ansible_collections.mailops.postfix.plugins.module_utils._postcat import QueueFile
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import (
    PostfixCLI, managed_config, master_running)
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message
from ansible_collections.mailops.postfix.plugins.module_utils._selection import ORIGIN, HEADERS, Selector, budget
from ansible_collections.mailops.postfix.plugins.module_utils._summary import collect

# inspect's values, and the tier each reads (the headers include the origin).
INSPECT = {"origin": ORIGIN, "headers": HEADERS}


def inspect_tier(values: Optional[List[str]]) -> Optional[str]:
    """The tier ``inspect`` reads: None, "origin" or "headers"."""
    values = values or []
    return HEADERS if "headers" in values else (ORIGIN if "origin" in values else None)


def count_matching(cli: PostfixCLI, selector: Selector, messages: Iterable[Message],
                   verdicts: Optional[_verdicts.Verdicts] = None) -> int:
    """How many of MESSAGES match SELECTOR, their queue files read when its options need them and no verdict in
    VERDICTS holds (what is read is noted there)."""
    candidates = [message for message in messages if selector.matches(message)]
    if selector.needs is None:
        return len(candidates)
    with budget([selector]):
        return _verdicts.count(verdicts, selector, candidates,
                               lambda unread, tier: _content.read(cli, unread, tier, selector.body_limit))


def run_info(params: Dict[str, Any], check_mode: bool = False) -> Tuple[Dict[str, Any], List[str]]:
    """The module's result (without ``changed``), and the warnings. Raises MailopsError.

    With ``incident``, what the origin and content options of the selection and the subsets found in the queue files
    read is kept on the host for the incident's later runs (see _verdicts) - not in check mode."""
    selector = Selector.from_params(params)
    subsets = {str(name): Selector.from_options(value, "subsets.%s" % name, selector.now)
               for name, value in (params["subsets"] or {}).items()}
    inspect = inspect_tier(params["inspect"])
    cli = PostfixCLI.from_params(params)
    instance = cli.instance()
    source = cli.choose_source(params["source"], instance["version"])
    ledger_file = ledger = None
    if params["incident"] is not None:
        ledger_file = _incident.ledger_path(params["incident"]["state_dir"], instance["name"])
        ledger = _incident.read_ledger(ledger_file, instance)
    result: Dict[str, Any] = {}
    holds: List[Message] = []
    listed_ids: Set[str] = set()
    verdicts = _verdicts.Verdicts(_verdicts.path_for(params["incident"]["state_dir"], instance["name"])) \
        if params["incident"] is not None and not check_mode else None
    if params["list_queue"]:
        def observe(message: Message) -> None:
            if ledger is not None and message["queue_name"] == "hold":
                holds.append(message)
            if verdicts is not None:
                listed_ids.add(message["queue_id"])
        body_limit = max([s.body_limit for s in [selector] + list(subsets.values()) if s.body_limit] or [None])

        def read(messages: List[Message], tier: str) -> Iterator[Tuple[Message, Optional[QueueFile]]]:
            return _content.read(cli, messages, tier, body_limit)

        with budget([selector] + list(subsets.values())):
            result = collect(cli.list_queue(source, selector.now), selector, params["limit"], params["summary_top"],
                             subsets if params["subsets"] is not None else None,
                             observe if ledger is not None or verdicts is not None else None, read, inspect,
                             params["inspect_max"], verdicts.note if verdicts is not None else None)
    if params["incident"] is not None:
        result["incident"] = _incident.view(ledger, holds if params["list_queue"] else None, ledger_file, subsets,
                                            lambda _name, subset, messages: count_matching(cli, subset, messages,
                                                                                           verdicts)) \
            if ledger is not None else None
    trouble = verdicts.save(listed_ids) if verdicts is not None else None
    if trouble:
        cli.warnings.append(trouble)
    result["listed_at"] = selector.now
    running, reason = master_running(instance["queue_directory"])
    details = {"tools": cli.tools_found(), "map_types": cli.map_types(),
               "managed_by": managed_config(instance["config_dir"]), "running": running, "running_reason": reason}
    result.update(
        selection=selector.given,
        postfix_version=instance["mail_version"],
        source=source,
        instance=dict({k: instance[k] for k in ("name", "config_dir", "queue_directory")}, **details),
    )
    return result, cli.warnings
