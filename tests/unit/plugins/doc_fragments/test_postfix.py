# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SELECTION doc fragment is the table of selection options, written out: one place declares an option."""

from __future__ import absolute_import, division, print_function

import importlib.util
import os

import yaml

from ansible_collections.mailops.postfix.plugins.doc_fragments.postfix import ModuleDocFragment
from ansible_collections.mailops.postfix.plugins.module_utils import _argspec, _selection

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "scripts", "doc-fragment.py")


def _generator():
    spec = importlib.util.spec_from_file_location("doc_fragment_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fragment_is_the_table_written_out():
    """Fails when OPTIONS changed and scripts/doc-fragment.py was not run (it rewrites the fragment)."""
    assert '    SELECTION = r"""' + ModuleDocFragment.SELECTION + '"""\n' == _generator().rendered()


def test_every_option_of_the_table_is_documented_and_accepted_the_same_way():
    documented = yaml.safe_load(ModuleDocFragment.SELECTION)["options"]
    assert list(documented) == [option.name for option in _selection.OPTIONS]
    spec = _argspec.selection_argument_spec()
    for option in _selection.OPTIONS:
        for key, value in option.spec.items():
            assert documented[option.name][key] == value, (option.name, key)
        assert spec[option.name] == option.spec, option.name
