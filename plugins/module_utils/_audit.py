# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The audit line: one short ``key=value`` line in Postfix's own log for each real change.

Both writers - a queue action and the incident window - compose it here and write it here, so the log reads
the same whoever wrote it: ``operator=`` first, then what happened, tag ``mailops.postfix``. A line that
cannot be written is a warning for the caller, never a failure of the change it records.
"""

from __future__ import absolute_import, division, print_function

import json
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI, PostfixError

TAG = "mailops.postfix"
# At most this many queue IDs on the line; the rest are counted.
SHOWN_IDS = 20


def line(operator: Optional[str], fields: Iterable[Tuple[str, Any]]) -> str:
    """``operator=NAME k=v ...`` from FIELDS (pairs, in order; a value of None leaves its pair out)."""
    parts = ["operator=%s" % (operator or "-")]
    parts += ["%s=%s" % (key, value) for key, value in fields if value is not None]
    return " ".join(parts)


def ids(queue_ids: Sequence[str]) -> str:
    """The IDs as the line shows them: the first SHOWN_IDS, then how many more; ``-`` for none."""
    shown = ",".join(queue_ids[:SHOWN_IDS])
    if len(queue_ids) > SHOWN_IDS:
        shown += ",...(%d more)" % (len(queue_ids) - SHOWN_IDS)
    return shown or "-"


def json_value(value: Any) -> str:
    """A dict or list on one line, no spaces (``{}`` for nothing)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else "{}"


def write(cli: PostfixCLI, text: str, warnings: List[str]) -> None:
    """Write TEXT to Postfix's log with postlog; a failure is added to WARNINGS."""
    try:
        trouble = cli.log(TAG, text)
    except PostfixError as exc:
        trouble = str(exc)
    if trouble:
        warnings.append("the audit line could not be written to Postfix's log (postlog: %s)" % trouble)
