# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A text file replaced whole: the new text with the mode asked, or the old file untouched."""

from __future__ import absolute_import, division, print_function

import os
import stat

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _files


def test_the_file_is_replaced_whole_with_the_mode_asked_and_no_temporary_file_left(tmp_path):
    path = tmp_path / "map"
    path.write_text("old and longer\n")
    os.chmod(str(path), 0o600)
    assert _files.write_text(str(path), "new\n", 0o644) == str(path)
    assert path.read_text() == "new\n" and stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ["map"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "map"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        _files.write_text(str(path), "\udcff not encodable", 0o644)
    assert path.read_text() == "old\n" and os.listdir(str(tmp_path)) == ["map"]
