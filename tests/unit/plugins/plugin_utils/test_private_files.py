# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's documents on the controller: 0700 directory, 0600 files, whatever the umask; bad names refused."""

from __future__ import absolute_import, division, print_function

import os
import stat

import pytest

from ansible_collections.mailops.postfix.plugins.plugin_utils import _private_files

FILES = [{"name": "report.json", "content": "{}\n"}, {"name": "report.md", "content": "# Report\nsender a@example.com\n"}]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o002)
    yield
    os.umask(old)


def test_a_new_directory_and_its_files_are_private_whatever_the_umask(tmp_path, loose_umask):
    directory = str(tmp_path / "a" / "report")
    written = _private_files.write(directory, _private_files.check(directory, FILES))
    assert written == [os.path.join(directory, "report.json"), os.path.join(directory, "report.md")]
    assert mode(directory) == 0o700 and [mode(path) for path in written] == [0o600, 0o600]
    assert open(written[1]).read() == FILES[1]["content"]
    assert sorted(os.listdir(directory)) == ["report.json", "report.md"]       # no temporary file left


def test_an_existing_open_directory_and_file_are_closed_and_the_file_replaced(tmp_path, loose_umask):
    directory = tmp_path / "report"
    directory.mkdir(mode=0o755)
    os.chmod(str(directory), 0o755)
    old = directory / "report.json"
    old.write_text("old and longer than the new content\n")
    os.chmod(str(old), 0o644)
    _private_files.write(str(directory), _private_files.check(str(directory), FILES[:1]))
    assert mode(str(directory)) == 0o700 and mode(str(old)) == 0o600 and old.read_text() == "{}\n"


def test_a_relative_directory_is_taken_from_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    written = _private_files.write("out", _private_files.check("out", FILES[:1]))
    assert written == [str(tmp_path / "out" / "report.json")]


@pytest.mark.parametrize("directory, files, words", [
    ("", FILES, "dir: expected a directory path"),
    ("/tmp/x", [], "files: expected a non-empty list"),
    ("/tmp/x", [{"name": "../escape", "content": ""}], "files[0].name: '../escape' is not a plain file name"),
    ("/tmp/x", [{"name": "..", "content": ""}], "is not a plain file name"),
    ("/tmp/x", [{"name": "a", "content": 3}], "files[0].content: expected text, got int"),
    ("/tmp/x", [{"name": "a", "content": ""}, {"name": "a", "content": ""}], "files[1].name: 'a' is given twice"),
    ("/tmp/x", [{"name": "a"}], "files[0]: expected {name, content}"),
])
def test_bad_input_is_refused_before_anything_is_written(directory, files, words):
    with pytest.raises(_private_files.PrivateFilesError) as raised:
        _private_files.check(directory, files)
    assert words in str(raised.value)
