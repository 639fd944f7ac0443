# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_block's steps: write and compile the access maps, then put their checks first in main.cf.

The decisions are pure (_access); Postfix's commands run in _postfix_cli. Every map is written and compiled before
main.cf names it, so a failure part-way leaves no restriction pointing at a missing or half-built table.
"""

from __future__ import absolute_import, division, print_function

import os
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _access, _files
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI
from ansible_collections.mailops.postfix.plugins.module_utils._values import parameters_text

# What blocking returns: (changed, result, diffs).
Outcome = Tuple[bool, Dict[str, Any], List[Dict[str, str]]]


class BlockInputError(MailopsError):
    """The module's input is wrong; nothing was changed."""


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _stale(path: str, compiled: str, written: bool) -> bool:
    """Whether postmap must (re)build COMPILED from PATH."""
    return written or not os.path.exists(compiled) or os.stat(compiled).st_mtime < os.stat(path).st_mtime


def requested(params: Dict[str, Any], config_dir: str) -> List[Tuple[_access.Block, str]]:
    """(block, map path) for every kind of block with entries, in BLOCKS' order; a map path defaults to
    CONFIG_DIR/mailops_KIND_access."""
    return [(block, params.get(block.map_option) or os.path.join(config_dir, "mailops_%s_access" % block.kind))
            for block in _access.BLOCKS if params.get(block.option)]


def block(cli: PostfixCLI, params: Dict[str, Any], check_mode: bool) -> Outcome:
    """Refuse PARAMS' senders, clients, SASL logins (access maps, checks first) and local users (sendmail)."""
    problems = _access.entry_problems(params)
    problems += _access.check_reject_action("reject_action", params["reject_action"])
    if problems:
        raise BlockInputError("; ".join(problems) + ". Nothing was changed.")
    config_dir = params["config_dir"] or cli.postconf("config_directory")["config_directory"]
    blocks = requested(params, config_dir)
    local_users = params.get(_access.LOCAL_OPTION) or []
    map_type = params["map_type"]
    if blocks:
        supported = cli.map_types()
        if map_type not in supported:
            raise BlockInputError("map_type: %s is not a map type this Postfix supports (postconf -m: %s). Nothing was "
                                  "changed." % (map_type, ", ".join(supported)))
    for block_, path in blocks:
        if not os.path.isabs(path):
            raise BlockInputError("%s: %s is not an absolute path. Nothing was changed." % (block_.map_option, path))
        if not os.path.isdir(os.path.dirname(path)):
            raise BlockInputError("%s: the directory of %s does not exist. Nothing was changed." % (block_.map_option, path))

    maps, diffs = [], []
    for block_, path in blocks:
        text = _access.map_text(params[block_.option], params["reject_action"])
        before = _read(path)
        written = before != text
        compiled = _stale(path, path + _access.MAP_SUFFIX[map_type], written)
        if not check_mode:
            if written:
                _files.write_text(path, text, 0o644)
            if compiled:
                cli.postmap(map_type, path)
        maps.append({"kind": block_.kind, "path": path, "entries": len(set(params[block_.option])), "written": written,
                     "compiled": compiled, "parameter": block_.parameter,
                     "check": "%s %s:%s" % (block_.check, map_type, path)})
        if written:
            diffs.append({"before_header": path, "after_header": path, "before": before or "", "after": text})

    names = _access.restriction_parameters(blocks, local_users)
    current = cli.postconf(*names) if names else {}
    new = _access.new_parameters(current, blocks, map_type, local_users)
    if new and not check_mode:
        edits = dict(new)   # type: Dict[str, Optional[str]]
        cli.set_parameters(edits, config_dir)
    if new:
        main_cf = os.path.join(config_dir, "main.cf")
        diffs.append({"before_header": main_cf, "after_header": main_cf,
                      "before": parameters_text({name: current[name] for name in new}),
                      "after": parameters_text(new)})
    maps_changed = any(entry["written"] or entry["compiled"] for entry in maps)
    result = {
        "config_dir": config_dir,
        "maps": maps,
        "parameters": {name: {"before": current[name], "after": value} for name, value in sorted(new.items())},
        "local_users": list(local_users),
        # smtpd reads the maps and the restriction lists; sendmail reads authorized_submit_users at every submission
        "reload": maps_changed or any(name != _access.SUBMITTERS for name in new),
    }
    return maps_changed or bool(new), result, diffs
