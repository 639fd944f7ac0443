# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

import json

from ansible_collections.mailops.postfix.plugins.module_utils._selection import doc_fragment


def _selection_doc():
    """The SELECTION fragment, as YAML (JSON is YAML), from the table that declares the options."""
    return json.dumps({
        "options": doc_fragment(),
        "notes": ["All given selection options must match. An option given a list matches when any element does.",
                  "The options are evaluated cheapest first, each on the messages the cheaper ones left: the listing "
                  "(C(postqueue -j)), then the queue file's envelope records (C(postcat -q -e): O(sasl_username), "
                  "O(client_address), O(client_name_regex), O(helo_regex), O(origin)), then its headers "
                  "(C(postcat -q -eh): O(local_uid), O(header_regex), O(header_raw_regex)), and the body only for "
                  "O(body_regex), in batches of a thousand IDs."],
    }, indent=1)


class ModuleDocFragment(object):
    """Documents the modules' shared options: the instance options of plugins/module_utils/_argspec.py, and the
    selection options from their table (_selection.OPTIONS)."""

    INSTANCE = r"""
options:
  config_dir:
    description:
      - Configuration directory of the Postfix instance, passed to every command as C(-c DIR).
      - Use it for a second instance made with C(postmulti) (for example C(/etc/postfix-out)).
      - Without it, the default instance (or the one named by E(MAIL_CONFIG)) is used.
    type: path
  postfix_bin_dir:
    description:
      - Directory holding C(postconf), C(postqueue), C(postsuper), C(postcat), C(sendmail), C(postkick), C(postlog), C(postfix) and C(postmap), for layouts
        such as Zimbra's C(/opt/zimbra/common/sbin).
      - Without it, the tools are searched in E(PATH), then C(/usr/sbin), C(/usr/bin),
        C(/usr/local/sbin) and C(/usr/local/bin).
    type: path
  postfix_tool_paths:
    description:
      - Full path of a single tool, overriding O(postfix_bin_dir) and the search for that tool.
    type: dict
    suboptions:
      postconf:
        description: Path of C(postconf).
        type: path
      postqueue:
        description: Path of C(postqueue).
        type: path
      postsuper:
        description: Path of C(postsuper).
        type: path
      postcat:
        description: Path of C(postcat).
        type: path
      sendmail:
        description: Path of Postfix's C(sendmail) (used to re-inject archived mail).
        type: path
      postkick:
        description: Path of C(postkick) (used to wake pickup after a requeue).
        type: path
      postlog:
        description: Path of C(postlog) (used to write the audit line of a real action to Postfix's log).
        type: path
      postfix:
        description: Path of the C(postfix) command (used to reload the instance when an incident window opens or ends).
        type: path
      postmap:
        description: Path of C(postmap) (reported in RV(mailops.postfix.postfix_queue_info#module:instance.tools) for the runbook's fix).
        type: path
  source:
    description:
      - How the queue is listed.
      - V(auto) uses C(postqueue -j) (JSON) from Postfix 3.1 on, and C(postqueue -p) (text) before.
      - V(json) fails on Postfix older than 3.1.
      - V(text) cannot tell deferred, incoming and maildrop mail apart (their C(queue_name) is
        V(null)), and gives arrival times to the second in local time, the year inferred.
    type: str
    choices: [auto, json, text]
    default: auto
"""

    # The selection options are documented where they are declared: the table of _selection.OPTIONS.
    SELECTION = _selection_doc()
