# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The controller's side of the audit trail: who runs it, and the JSON-lines audit log."""

from __future__ import absolute_import, division, print_function

import fcntl
import getpass
import json
import os
from typing import Any, Dict


def controller_user() -> str:
    """The person behind the run: the sudo caller when there is one."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def append_line(path: str, record: Dict[str, Any]) -> None:
    """Append one JSON line to PATH under an exclusive lock (created 0600 if missing)."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = os.write(fd, line)
        if written != len(line):
            raise OSError("short write (%d of %d bytes)" % (written, len(line)))
        os.fsync(fd)
    finally:
        os.close(fd)
