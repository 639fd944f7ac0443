# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook refuses bad input before it changes anything, on any host.

One lab fleet with an incident; each bad input is one real run of a collection playbook through
the controller under test. Each run must fail, name the variable in its message, and leave every
target's queue (IDs and queue names), every file of its Postfix configuration directory and every
queue file byte-identical - the runs that only the hosts can refuse (a map type, a missing directory,
a relocated Postfix's commands) included, and check mode too.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import os

import pytest

from lab_fleet import fresh_fleet, lab, untouched

# (playbook, variables, check mode, words the failure must contain - the variable's name first). Every way a refusal
# is reached, once: each changing playbook, check mode, the argument specs (types), what the variables mean on the
# controller, and what only the host can tell. Every refusal's words for every variable are unit-tested on the same
# function (tests/unit/plugins/plugin_utils/test_preflight.py); these runs prove the wiring - the run stops before
# any host changes.
BAD_INPUTS = [
    ("cleanup", {"mailops_junk": {}}, False, "mailops_junk: the junk selection is empty"),
    ("cleanup", {"mailops_junk": {}}, True, "mailops_junk: the junk selection is empty"),
    ("purge", {"mailops_junk": {}}, False, "mailops_junk: the junk selection is empty"),
    ("cleanup", {"fix_block_senders": ["spammer@example.com OK"]}, False, "fix_block_senders[0]: 'spammer@example.com OK' has whitespace"),
    ("fix", {"fix_block_senders": ["<>"]}, False, "fix_block_senders[0]: '<>' would refuse every bounce"),
    ("cleanup", {"fix_reject_action": "PERMIT"}, True, "fix_reject_action: 'PERMIT' does not refuse the mail"),
    ("cleanup", {"mailops_junk": {"sender_regex": "(unclosed"}}, False, "mailops_junk: sender_regex: invalid regular expression"),
    ("cleanup", {"requeue_junk": {"sasl_username": [""]}}, False, "requeue_junk: sasl_username: an empty string matches nothing"),
    ("cleanup", {"fix_map_type": "sdbm"}, False, "fix_map_type: sdbm is not a map type this Postfix supports"),
    ("cleanup", {"fix_tasks_file": "/nonexistent/fix.yml"}, False, "fix_tasks_file: /nonexistent/fix.yml does not exist on the controller"),
    ("cleanup", {"requeue_max_active": "lots"}, False, "requeue_max_active"),
    ("cleanup", {"mailops_instance": {"postfix_bin_dir": "/opt/nowhere/sbin"}}, False, "mailops_instance: postconf not found"),
    ("cleanup", {"mailops_instance": {"config_dir": "/etc/nowhere"}}, True, "mailops_instance: "),
    ("cleanup", {"fix_config_dir": "/etc/nowhere"}, False, "fix_config_dir: /etc/nowhere does not exist on this host"),
    ("cleanup", {"verify_delivered_dir": "/var/mail/nowhere"}, False, "verify_delivered_dir: /var/mail/nowhere does not exist on this host"),
    ("cleanup", {"mailops_mode": "apply"}, False, "mailops_plan_id: an apply run needs the ID"),
    ("cleanup", {"purge_selection": {"sender": ["x@example.org"]}}, False, "purge_selection: renamed purge_junk"),
    ("hold", {"hold_batch_size": -1}, False, "hold_batch_size: expected a whole number of at least 1"),
]


@pytest.fixture(scope="module")
def fleet(lab_session):
    return fresh_fleet(3, junk=20, backscatter=2, legitimate=6, quarantine=2)


def test_bad_inputs_change_nothing_anywhere(fleet, runbook, controller):
    """Every bad input is refused before anything changes; on 2.19 every other one (the same code runs).

    The runs are refused independently of each other, so three run at a time: each must fail with its words and
    change nothing on any host (its PLAY RECAP), and once all are done every target is byte-identical.
    """
    cases = BAD_INPUTS if controller["name"] == "2.21" else BAD_INPUTS[::2]
    before = untouched(fleet)

    def refuse(case):
        playbook, variables, check_mode, words = case
        out = runbook(playbook, expect_rc=2, check_mode=check_mode, **variables)
        assert words in out["output"], (playbook, variables, out["output"][-4000:])
        # pre-flight refused it on every host: no task changed anything anywhere
        assert all(out["recap"][target]["changed"] == 0 for target in fleet), (playbook, variables, out["recap"])
        return words.split(":")[0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        refused = list(pool.map(refuse, cases))
    assert untouched(fleet) == before
    assert len(refused) == len(cases)
    # no incident was ever opened: the hosts' ledger directories are empty
    for target in fleet:
        assert os.listdir(os.path.join(lab.host_dir(lab.target(target)["host"]), "state")) == []
