# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The runbook's documents on the controller (report, plan): a directory only its owner can enter, files only its
owner can read, whatever the umask - written in place by the controller's own process, no module run per file."""

from __future__ import absolute_import, division, print_function

import os
from typing import Any, Dict, List, Sequence

from ansible_collections.mailops.postfix.plugins.module_utils import _files


class PrivateFilesError(ValueError):
    """What was asked cannot be written as asked; nothing was written."""


def check(directory: Any, files: Any) -> List[Dict[str, str]]:
    """The files to write, checked: each a plain name (no directory part) and text content."""
    if not isinstance(directory, str) or not directory:
        raise PrivateFilesError("dir: expected a directory path, got %r" % (directory,))
    if not isinstance(files, list) or not files:
        raise PrivateFilesError("files: expected a non-empty list of {name, content}")
    checked, names = [], set()
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or set(entry) != {"name", "content"}:
            raise PrivateFilesError("files[%d]: expected {name, content}, got %r" % (index, entry))
        name, content = entry["name"], entry["content"]
        if not isinstance(name, str) or not name or "/" in name or name in (".", "..") or "\0" in name:
            raise PrivateFilesError("files[%d].name: %r is not a plain file name" % (index, name))
        if name in names:
            raise PrivateFilesError("files[%d].name: %r is given twice" % (index, name))
        if not isinstance(content, str):
            raise PrivateFilesError("files[%d].content: expected text, got %s" % (index, type(content).__name__))
        names.add(name)
        checked.append({"name": name, "content": content})
    return checked


def write(directory: str, files: Sequence[Dict[str, str]]) -> List[str]:
    """Make DIRECTORY (and missing parents) and set it 0700; write each file whole (a 0600 temporary file beside it,
    flushed to disk, renamed over it). A relative DIRECTORY is taken from the current directory. Returns the paths
    written."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, 0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    return [_files.write_text(os.path.join(directory, entry["name"]), entry["content"], 0o600) for entry in files]
