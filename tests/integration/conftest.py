# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration fixtures: a real Postfix, a real sshd on loopback, and ansible-playbook runs.

The controller is chosen by MAILOPS_CONTROLLER: ``2.21`` (ansible-core 2.21,
Python 3.13, ssh connection) or ``2.19`` (ansible-core 2.19, Python 3.11,
paramiko). MAILOPS_VENVS is the directory holding the controllers' venvs, and
ANSIBLE_COLLECTIONS_PATH must make the collection importable (the Makefile
sets all three).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

import lab_fleet
import live_postfix

HERE = os.path.dirname(os.path.abspath(__file__))
# The tests' own state (ssh keys, sshd's configuration and log, inventories, result files): a private directory
# made fresh for each run (mkdtemp: mode 0700, a new name nobody could have prepared), never a fixed path under
# a world-writable directory. Removed at the end unless MAILOPS_KEEP_STATE=1 (sshd's log is there).
STATE = tempfile.mkdtemp(prefix="mailops-integration-")
SSH_PORT = 2222
NONROOT = "pfqtest"
CONTROLLERS = {
    "2.21": {"venv": "ctl-2.21", "connection": "ssh"},
    "2.19": {"venv": "ctl-2.19", "connection": "paramiko"},
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "controller_independent: what it checks happens on the target whichever controller drives "
        "it (make integration runs these on the newest controller only)")


@pytest.fixture(scope="session")
def controller():
    name = os.environ.get("MAILOPS_CONTROLLER", "2.21")
    venvs = os.environ.get("MAILOPS_VENVS", os.path.join(HERE, "..", "..", ".venv"))
    spec = dict(CONTROLLERS[name], name=name)
    spec["bin"] = os.path.join(os.path.abspath(venvs), spec["venv"], "bin")
    assert os.path.exists(os.path.join(spec["bin"], "ansible-playbook")), spec
    return spec


def _ensure_user(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    # no password, but not locked: sshd (without PAM) refuses key logins to locked accounts
    subprocess.run(["usermod", "-p", "*", name], check=True)
    return pwd.getpwnam(name)


def pytest_unconfigure(config):
    if os.environ.get("MAILOPS_KEEP_STATE") != "1":
        shutil.rmtree(STATE, ignore_errors=True)


def _create(path, mode):
    """A new file in the private state directory, never an existing one (nor a link planted there)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode), "w")


@pytest.fixture(scope="session")
def sshd():
    """sshd on 127.0.0.1:2222 with a key for root and for an unprivileged user."""
    key = os.path.join(STATE, "id_ed25519")
    host_key = os.path.join(STATE, "ssh_host_ed25519_key")
    for path in (key, host_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(key + ".pub") as handle:
        public = handle.read()
    user = _ensure_user(NONROOT)
    # sshd reads the keys file as the logging-in user (the unprivileged one too): readable, in a directory it
    # can enter
    os.chmod(STATE, 0o711)
    keys = os.path.join(STATE, "authorized_keys")
    with _create(keys, 0o644) as handle:
        handle.write(public)
    config = os.path.join(STATE, "sshd_config")
    with _create(config, 0o600) as handle:
        handle.write("\n".join([
            "ListenAddress 127.0.0.1:%d" % SSH_PORT,
            "HostKey %s" % host_key,
            "PidFile %s/sshd.pid" % STATE,
            "AuthorizedKeysFile %s" % keys,
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "LogLevel DEBUG1",  # logs the client's software version: the tests check the connection used
            "",
        ]))
    os.makedirs("/run/sshd", exist_ok=True)
    log = open(os.path.join(STATE, "sshd.log"), "w")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    live_postfix.wait_for(lambda: _port_open(SSH_PORT) or proc.poll() is not None, 20, "sshd")
    assert proc.poll() is None, open(os.path.join(STATE, "sshd.log")).read()
    yield {"key": key, "port": SSH_PORT, "nonroot": NONROOT, "nonroot_home": user.pw_dir,
           "log": os.path.join(STATE, "sshd.log")}
    proc.terminate()    # our own child, by its PID
    proc.wait()
    log.close()


def _port_open(port):
    import socket
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def postfix():
    sink = live_postfix.SlowSink()
    sink.start()
    instance = live_postfix.configure_default()
    instance.reset()
    yield instance
    sink.stop()
    instance.reset()
    instance.stop()


@pytest.fixture(scope="session")
def inventory(controller, sshd):
    path = os.path.join(STATE, "inventory-%s.json" % controller["name"])
    common = {
        "ansible_host": "127.0.0.1",
        "ansible_port": sshd["port"],
        "ansible_connection": controller["connection"],
        "ansible_ssh_private_key_file": sshd["key"],
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_paramiko_host_key_checking": False,
        "ansible_paramiko_record_host_keys": False,
    }
    hosts = {
        "mailhost": dict(common, ansible_user="root"),
        "mailhost_nonroot": dict(common, ansible_user=sshd["nonroot"]),
    }
    with open(path, "w") as handle:
        json.dump({"all": {"hosts": hosts}}, handle)
    return path


@pytest.fixture(scope="session")
def playbook(controller, inventory):
    """Run a playbook from tests/integration/playbooks; return the results it saved.

    A target's playbook saves what it registered with the ``save`` tasks file
    into ``result_file``; failures of ansible-playbook raise with its output.
    """
    def run(target, hosts="mailhost", expect_failure=False, check_mode=False, **extra):
        handle, result_file = tempfile.mkstemp(prefix="mailops-result-", suffix=".json", dir=STATE)
        os.close(handle)
        extra.update(result_file=result_file, target_hosts=hosts)
        env = dict(os.environ, LANG="C.UTF-8", ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_PARAMIKO_HOST_KEY_AUTO_ADD="True", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_DEPRECATION_WARNINGS="False", ANSIBLE_RETRY_FILES_ENABLED="False",
                   PATH=controller["bin"] + os.pathsep + os.environ.get("PATH", ""))
        try:
            proc = subprocess.run(
                [os.path.join(controller["bin"], "ansible-playbook"), "-i", inventory,
                 os.path.join(HERE, "playbooks", target, "playbook.yml"), "-e", json.dumps(extra)]
                + (["--check"] if check_mode else []),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env, check=False,
                timeout=lab_fleet.PLAYBOOK_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError("ansible-playbook %s did not end within %d s (killed):\n%s"
                                 % (target, lab_fleet.PLAYBOOK_TIMEOUT, (exc.output or "")[-20000:]))
        if (proc.returncode != 0) != expect_failure:
            raise AssertionError("ansible-playbook %s exited %s:\n%s" % (target, proc.returncode, proc.stdout[-20000:]))
        with open(result_file) as handle:
            text = handle.read()
        os.unlink(result_file)
        return {"rc": proc.returncode, "output": proc.stdout, "results": json.loads(text) if text else {}}
    return run


@pytest.fixture(scope="session")
def lab_session():
    """The lab fleet is torn down once the tests that used it are done (kept with MAILOPS_KEEP_LAB=1, to look at)."""
    yield
    if os.environ.get("MAILOPS_KEEP_LAB") != "1":
        lab_fleet.lab_cmd("down")


@pytest.fixture
def runbook(controller, tmp_path):
    """Run (or, with .command, build) a collection playbook against the lab's inventory."""
    return lab_fleet.make_runbook(controller, tmp_path)
