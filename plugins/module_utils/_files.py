# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""A text file replaced whole: what postfix_block's access maps, the incident window's table, the metrics file and the
controller's report files are written with."""

from __future__ import absolute_import, division, print_function

import os
import tempfile


def write_text(path: str, text: str, mode: int) -> str:
    """Replace PATH whole with TEXT: a temporary file beside it (created 0600), flushed to disk, set to MODE, renamed
    over PATH - a reader sees the old file or the new one, never part of either. Returns PATH."""
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path
