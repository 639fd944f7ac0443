# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_queue_action's ``reinject``: the way back from a purge - archived messages submitted again with their
envelope. Every message is checked against its checksum before anything is sent; a message already re-injected
from the archive is never sent twice. Fills the result as it goes, so a failure part-way reports what was sent.
"""

from __future__ import absolute_import, division, print_function

import os
from typing import Any, Dict

from ansible_collections.mailops.postfix.plugins.module_utils import _archive
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI
from ansible_collections.mailops.postfix.plugins.module_utils._selection import Selector


def reinject(cli: PostfixCLI, params: Dict[str, Any], check_mode: bool, result: Dict[str, Any]) -> None:
    """Submit archived messages again with their envelope (``sendmail -i -f SENDER -- RECIPIENTS``)."""
    Selector.from_params(params)   # validates queue_ids (the only selection option reinject takes)
    # every message checked against its checksum before anything is sent (read one at a time: flat memory)
    path, manifest, count = _archive.verify(params["archive"])
    wanted = set(params["queue_ids"]) if params["queue_ids"] else None
    done = _archive.reinjected_ids(path)
    chosen = [entry["queue_id"] for entry in manifest.get("messages", [])
              if wanted is None or entry["queue_id"] in wanted]
    result["matched"] = len(chosen)
    result["vanished"] = [queue_id for queue_id in chosen if queue_id in done]
    todo = [queue_id for queue_id in chosen if queue_id not in done]
    result["archive"] = {"directory": path, "count": count, "manifest": os.path.join(path, _archive.MANIFEST)}
    if check_mode:
        result["queue_ids"] = todo
        result["changed_count"] = len(todo)
        return
    sending = set(todo)
    try:
        for entry, content in _archive.messages_of(path, manifest):   # the manifest as read once
            if entry["queue_id"] not in sending:
                continue
            cli.reinject(entry["envelope_sender"], entry["recipients"], content)
            result["queue_ids"].append(entry["queue_id"])
            done.add(entry["queue_id"])
    finally:
        _archive.record_reinjected(path, done)
        result["changed_count"] = len(result["queue_ids"])
        sent = set(result["queue_ids"])
        result["pending"] = [queue_id for queue_id in todo if queue_id not in sent]
