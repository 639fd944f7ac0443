# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""private_files: the runbook's documents written on the controller by this process (docs: modules/private_files.py)."""

from __future__ import absolute_import, division, print_function

import os

from ansible.plugins.action import ActionBase

from ansible_collections.mailops.postfix.plugins.plugin_utils import _private_files


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dir", "files"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        try:
            files = _private_files.check(self._task.args.get("dir"), self._task.args.get("files"))
            written = _private_files.write(self._task.args["dir"], files)
        except (_private_files.PrivateFilesError, OSError) as exc:
            result.update(failed=True, msg="private_files: %s. The documents were not written." % exc)
            return result
        result.update(changed=False, dir=os.path.dirname(written[0]), files=written)
        return result
