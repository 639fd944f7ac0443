# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The options the modules share: the instance and the selection. It only declares them.

The selection options are one table (_selection.OPTIONS), written into plugins/doc_fragments/postfix.py by
scripts/doc-fragment.py; the instance options are declared here and documented there. The objects built from them are
PostfixCLI.from_params (the runner) and Selector.from_params / from_options (the selection).
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Dict

from ansible_collections.mailops.postfix.plugins.module_utils import _selection

# The Postfix commands the runner may be given a path for (postfix_tool_paths); _postfix_cli looks them up.
TOOLS = ("postconf", "postqueue", "postsuper", "postcat", "sendmail", "postkick", "postlog", "postfix", "postmap")


def instance_argument_spec() -> Dict[str, Dict[str, Any]]:
    return dict(
        config_dir=dict(type="path"),
        postfix_bin_dir=dict(type="path"),
        postfix_tool_paths=dict(type="dict", options={tool: dict(type="path") for tool in TOOLS}),
        source=dict(type="str", choices=["auto", "json", "text"], default="auto"),
    )


def selection_argument_spec() -> Dict[str, Dict[str, Any]]:
    """The selection options, as the table in _selection declares them."""
    return _selection.argument_spec()


def shared_argument_spec() -> Dict[str, Dict[str, Any]]:
    spec = instance_argument_spec()
    spec.update(selection_argument_spec())
    return spec
