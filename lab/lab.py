# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet lab: N isolated Postfix hosts on this Linux machine, reachable over SSH.

A host is a network namespace (veth to a bridge) plus its own mount, UTS and PID namespaces. Its
PID 1 is this script (`_init`): it bind-mounts the host's own directories over the Postfix paths,
/var/log, /var/mail, /var/backups and /root, mounts a tmpfs on /run, then runs sshd, Postfix and a delivery sink
(smtp-sink writing one file per message into /var/mail/delivered) and reaps children until told to
stop. Postfix relays everything to [127.0.0.1]:10025, where nothing listens: mail stays deferred
until someone points relayhost at the sink ([127.0.0.1]:10026).

    lab.py up --hosts 3        bring up (tears down leftovers first; idempotent)
    lab.py down                tear down
    lab.py status              one line per host
    lab.py exec HOST -- CMD    run CMD inside HOST (all its namespaces)

Safety: a blackhole route for the lab subnet exists before any host is created, so nothing aimed at
the lab can leave the machine if the bridge is gone; hosts have no default route.
Everything is root-only and machine-wide (names, bridge, subnet): one lab at a time.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

STATE = os.environ.get("MAILOPS_LAB_DIR", "/var/lib/mailops-lab")
SUBNET_PREFIX = "10.231.57."
SUBNET = SUBNET_PREFIX + "0/24"
BRIDGE = "mlab0"
BRIDGE_IP = SUBNET_PREFIX + "1"
BLACKHOLE_METRIC = "4242"
NETNS_PREFIX = "mlab-"
DOMAIN = "lab.mailops.test"
SINK_PORT = 10026
DEAD_RELAY_PORT = 10025
# Paths a host mounts over with its own directory: the lab's state must live elsewhere.
HOST_MOUNTS = ("/etc/postfix", "/var/spool/postfix", "/var/lib/postfix", "/var/log", "/var/mail", "/root",
               "/var/backups")
# The host's own directories under hosts/<name>/, in HOST_MOUNTS order.
HOST_DIRS = ("etc-postfix", "spool", "lib-postfix", "log", "mail", "root", "backups")
SINK_DIR = "/var/mail/delivered"
PRISTINE = "/usr/share/postfix"
SELF = os.path.abspath(__file__)
# The host's PID 1 runs on the system Python: pyenv's lives under /root, which the host mounts over.
HOST_PYTHON = "/usr/bin/python3"


class LabError(Exception):
    pass


def run(argv, check=True, **kwargs):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise LabError("%s failed (rc=%d): %s" % (" ".join(argv), result.returncode,
                                                  (result.stderr or result.stdout).strip()))
    return result


def host_names(count):
    return ["h%02d" % number for number in range(1, count + 1)]


def host_ip(name):
    return SUBNET_PREFIX + str(10 + int(name[1:]))


def host_dir(name):
    return os.path.join(STATE, "hosts", name)


def load_state():
    try:
        with open(os.path.join(STATE, "lab.json")) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {"hosts": {}}


def save_state(state):
    path = os.path.join(STATE, "lab.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.rename(path + ".tmp", path)


# --- process identity -------------------------------------------------------------------------

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().split(b"\0")
    except (IOError, OSError):
        return []


def is_host_init(pid, name):
    """True when PID really is NAME's PID 1 (a recorded PID may have been reused since)."""
    args = cmdline(pid)
    return SELF.encode() in args and b"_init" in args and name.encode() in args


def init_pid_of(launcher_pid, name):
    """The host's PID 1 as the root namespace sees it: unshare's only child."""
    try:
        with open("/proc/%d/task/%d/children" % (launcher_pid, launcher_pid)) as handle:
            children = [int(pid) for pid in handle.read().split()]
    except (IOError, OSError):
        return None
    for pid in children:
        if is_host_init(pid, name):
            return pid
    return None


def host_pid(name):
    """The running PID 1 of host NAME, or None."""
    record = load_state()["hosts"].get(name)
    if record and record.get("pid") and is_host_init(record["pid"], name):
        return record["pid"]
    return None


# --- network ----------------------------------------------------------------------------------

def ensure_blackhole():
    """The blackhole route comes first: nothing for the lab subnet may ever leave the machine."""
    routes = run(["ip", "-4", "route", "show", "type", "blackhole", SUBNET]).stdout
    if SUBNET.split("/", 1)[0] not in routes:
        run(["ip", "-4", "route", "add", "blackhole", SUBNET, "metric", BLACKHOLE_METRIC])
    if SUBNET.split("/", 1)[0] not in run(["ip", "-4", "route", "show", "type", "blackhole", SUBNET]).stdout:
        raise LabError("the blackhole route for %s is missing: refusing to create hosts" % SUBNET)


def ensure_bridge():
    if run(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addresses = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE]).stdout
    if BRIDGE_IP + "/24" not in addresses:
        run(["ip", "addr", "add", BRIDGE_IP + "/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def create_netns(name):
    netns, veth = NETNS_PREFIX + name, "mlv" + name[1:]
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    inside = ["ip", "netns", "exec", netns]
    run(inside + ["ip", "addr", "add", host_ip(name) + "/24", "dev", "eth0"])
    run(inside + ["ip", "link", "set", "eth0", "up"])
    run(inside + ["ip", "link", "set", "lo", "up"])


# --- per-host files ---------------------------------------------------------------------------

def postconf(config_dir, *settings):
    run(["postconf", "-c", config_dir, "-e"] + list(settings))


def write_host_files(name):
    base = host_dir(name)
    for sub in HOST_DIRS:
        path = os.path.join(base, sub)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.makedirs(path)
    os.chmod(os.path.join(base, "root"), 0o700)
    shutil.chown(os.path.join(base, "lib-postfix"), "postfix", "postfix")
    shutil.chown(os.path.join(base, "mail"), "root", "mail")
    os.chmod(os.path.join(base, "mail"), 0o2775)
    # Postfix configuration from the package's pristine files, never from this machine's live config.
    etc = os.path.join(base, "etc-postfix")
    shutil.copy(os.path.join(PRISTINE, "main.cf.debian"), os.path.join(etc, "main.cf"))
    shutil.copy(os.path.join(PRISTINE, "master.cf.dist"), os.path.join(etc, "master.cf"))
    shutil.copy(os.path.join(PRISTINE, "dynamicmaps.cf"), os.path.join(etc, "dynamicmaps.cf"))
    for owned in ("postfix-files", "postfix-script", "post-install"):
        shutil.copy2(os.path.join("/etc/postfix", owned), os.path.join(etc, owned))
    for owned in ("postfix-files.d", "dynamicmaps.cf.d", "sasl"):
        os.makedirs(os.path.join(etc, owned))
    postconf(etc,
             "myhostname=%s.%s" % (name, DOMAIN), "mydomain=%s" % DOMAIN, "myorigin=$myhostname",
             "mydestination=localhost", "relayhost=[127.0.0.1]:%d" % DEAD_RELAY_PORT,
             "mynetworks=127.0.0.0/8 %s" % SUBNET, "inet_interfaces=all", "inet_protocols=ipv4",
             "alias_maps=", "alias_database=", "maillog_file=/var/log/postfix.log",
             "compatibility_level=3.6", "smtpd_banner=$myhostname ESMTP lab",
             "smtp_connect_timeout=5s", "smtpd_tls_security_level=none", "smtp_tls_security_level=none",
             "smtpd_tls_cert_file=", "smtpd_tls_key_file=")
    # No chroot: a chrooted smtp would need copies of /etc files under the spool.
    run(["postconf", "-c", etc, "-F", "*/*/chroot = n"])
    # sshd: key login for root only; host keys stay the same across bring-ups.
    keys = os.path.join(STATE, "keys", name)
    if not os.path.exists(os.path.join(keys, "ssh_host_ed25519_key")):
        os.makedirs(keys, mode=0o700, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", os.path.join(keys, "ssh_host_ed25519_key")])
    ssh_dir = os.path.join(base, "root", ".ssh")
    os.makedirs(ssh_dir, mode=0o700)
    shutil.copy(os.path.join(STATE, "id_ed25519.pub"), os.path.join(ssh_dir, "authorized_keys"))
    with open(os.path.join(base, "sshd_config"), "w") as handle:
        handle.write("\n".join([
            "ListenAddress %s:22" % host_ip(name),
            "HostKey %s" % os.path.join(keys, "ssh_host_ed25519_key"),
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "AuthorizedKeysFile /root/.ssh/authorized_keys", "PidFile /run/sshd.pid",
            "MaxStartups 200:30:400", "MaxSessions 100", "LogLevel VERBOSE",
            "Subsystem sftp /usr/lib/openssh/sftp-server", "AcceptEnv LANG LC_*", ""]))


def controller_key():
    key = os.path.join(STATE, "id_ed25519")
    if not os.path.exists(key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailops-lab", "-f", key])
    return key


def write_inventory(names):
    key = controller_key()
    lines = [
        "# Written by lab/lab.py up: the lab's hosts. Works with -c ssh and -c paramiko.",
        "all:", "  children:", "    mailhosts:", "      hosts:"]
    for name in names:
        lines += ["        %s:" % name, "          ansible_host: %s" % host_ip(name)]
    lines += [
        "      vars:",
        "        ansible_user: root",
        "        ansible_ssh_private_key_file: %s" % key,
        "        ansible_python_interpreter: /usr/bin/python3",
        "        ansible_host_key_checking: false",
        "        ansible_ssh_common_args: -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR",
        "        ansible_paramiko_host_key_checking: false",
        "        ansible_paramiko_record_host_keys: false",
        "        # The lab's delivery sink: one file per delivered message (verify counts them).",
        "        verify_delivered_dir: %s" % SINK_DIR,
        "        # What 'fix' means in the lab: the upstream relay is back (the sink).",
        "        mailops_lab_sink_relay: '[127.0.0.1]:%d'" % SINK_PORT,
        ""]
    path = os.path.join(STATE, "inventory.yml")
    with open(path, "w") as handle:
        handle.write("\n".join(lines))
    return path


# --- bring-up and tear-down -------------------------------------------------------------------

def wait_for_port(name, address, port, deadline):
    while True:
        if not host_pid(name):
            raise LabError("host %s died: see %s" % (name, os.path.join(host_dir(name), "console.log")))
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise LabError("%s:%d does not answer" % (address, port))
            time.sleep(0.05)


def start_host(name):
    log = open(os.path.join(host_dir(name), "console.log"), "wb")
    launcher = subprocess.Popen(
        ["ip", "netns", "exec", NETNS_PREFIX + name, "unshare", "--mount", "--uts", "--pid", "--fork",
         "--mount-proc", "--kill-child", HOST_PYTHON, SELF, "_init", STATE, name],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    log.close()
    deadline = time.time() + 10
    while True:
        pid = init_pid_of(launcher.pid, name)
        if pid:
            return launcher.pid, pid
        if launcher.poll() is not None or time.time() > deadline:
            raise LabError("host %s did not start: see %s" % (name, os.path.join(host_dir(name), "console.log")))
        time.sleep(0.02)


def up(count):
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, routes)")
    for mount in HOST_MOUNTS:
        if os.path.abspath(STATE) == mount or os.path.abspath(STATE).startswith(mount + "/"):
            raise LabError("MAILOPS_LAB_DIR %s is under %s, which every host mounts over" % (STATE, mount))
    down(quiet=True)
    ensure_blackhole()
    ensure_bridge()
    os.makedirs(os.path.join(STATE, "hosts"), exist_ok=True)
    # A fresh lab has had no incident yet: an earlier ground truth would describe other queues.
    shutil.rmtree(os.path.join(STATE, "truth"), ignore_errors=True)
    controller_key()
    names = host_names(count)
    state = {"hosts": {}, "subnet": SUBNET, "bridge": BRIDGE}
    started = time.time()
    for name in names:
        write_host_files(name)
        create_netns(name)
        launcher, pid = start_host(name)
        state["hosts"][name] = {"ip": host_ip(name), "pid": pid, "launcher": launcher}
        save_state(state)
    deadline = time.time() + 60
    for name in names:
        for port in (22, 25):
            wait_for_port(name, host_ip(name), port, deadline)
        wait_for_port_inside(name, SINK_PORT, deadline)
    inventory = write_inventory(names)
    print("lab: %d hosts up in %.1f s; inventory %s" % (count, time.time() - started, inventory))


def wait_for_port_inside(name, port, deadline):
    while run(enter(name) + ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', %d), 1)" % port],
              check=False).returncode != 0:
        if time.time() > deadline:
            raise LabError("%s: nothing listens on 127.0.0.1:%d" % (name, port))
        time.sleep(0.05)


def stop_pid(pid, name, timeout=15):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + timeout
    while is_host_init(pid, name) and time.time() < deadline:
        time.sleep(0.02)
    if is_host_init(pid, name):
        os.kill(pid, signal.SIGKILL)


def down(quiet=False):
    state = load_state()
    for name, record in sorted(state["hosts"].items()):
        pid = record.get("pid")
        if pid and is_host_init(pid, name):
            stop_pid(pid, name)
    # Leftovers from earlier sessions: namespaces and links outlive their processes.
    for line in run(["ip", "netns", "list"]).stdout.splitlines():
        netns = line.split()[0] if line.strip() else ""
        if netns.startswith(NETNS_PREFIX):
            run(["ip", "netns", "del", netns], check=False)
    for line in run(["ip", "-o", "link", "show"]).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith("mlv"):
            run(["ip", "link", "del", link], check=False)
    if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
        run(["ip", "link", "del", BRIDGE])
    if os.path.isdir(STATE):
        save_state({"hosts": {}})
    if not quiet:
        print("lab: down (the blackhole route for %s stays)" % SUBNET)


def enter(name):
    pid = host_pid(name)
    if not pid:
        raise LabError("host %s is not running" % name)
    return ["nsenter", "-t", str(pid), "-a", "--"]


def listing(name):
    """HOST's queue now: postqueue -j run inside the host, one dict per message."""
    output = run(enter(name) + ["postqueue", "-j"]).stdout
    return [json.loads(line) for line in output.splitlines()]


def status():
    state = load_state()
    if not state["hosts"]:
        print("lab: no hosts")
        return 0
    bad = 0
    for name, record in sorted(state["hosts"].items()):
        pid = host_pid(name)
        print("%s %s %s" % (name, record["ip"], "running (pid %d)" % pid if pid else "DOWN"))
        bad += 0 if pid else 1
    return 1 if bad else 0


# --- PID 1 of a host --------------------------------------------------------------------------

class _Stop(Exception):
    """SIGTERM or SIGINT reached the host's PID 1 (os.wait() would otherwise resume after it)."""


def host_init(state_dir, name):
    base = os.path.join(state_dir, "hosts", name)
    socket.sethostname(name)
    for source, target in zip(HOST_DIRS, HOST_MOUNTS):
        subprocess.check_call(["mount", "--bind", os.path.join(base, source), target])
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
    os.makedirs("/run/sshd", mode=0o755)
    os.makedirs(SINK_DIR)
    shutil.chown(SINK_DIR, "postfix", "postfix")
    children = [
        subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(base, "sshd_config")]),
        subprocess.Popen(["smtp-sink", "-u", "postfix", "-d", SINK_DIR + "/%Y%m%d%H%M%S.",
                          "127.0.0.1:%d" % SINK_PORT, "100"]),
    ]
    # `postfix start` creates the missing queue directories (post-install create-missing).
    subprocess.check_call(["postfix", "start"])

    def on_term(signum, frame):
        raise _Stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # With no child left, pause() must still wake for an orphan that exits later, or it stays a zombie
    # (SIGCHLD is ignored by default, which does not interrupt pause()).
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    try:
        while True:
            try:
                os.wait()           # reap every orphan of this host (PID 1's duty)
            except ChildProcessError:
                signal.pause()
    except _Stop:
        pass
    subprocess.call(["postfix", "stop"])
    for child in children:
        if child.poll() is None:
            child.terminate()
    # Leaving PID 1 ends every process of this host (the kernel kills the namespace).
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command")
    command_up = commands.add_parser("up", help="bring up N hosts (tears down leftovers first)")
    command_up.add_argument("--hosts", type=int, default=3)
    commands.add_parser("down", help="tear the lab down")
    commands.add_parser("status", help="one line per host")
    command_exec = commands.add_parser("exec", help="run a command inside a host")
    command_exec.add_argument("host")
    command_exec.add_argument("argv", nargs=argparse.REMAINDER)
    command_init = commands.add_parser("_init")
    command_init.add_argument("state_dir")
    command_init.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            if not 1 <= args.hosts <= 200:
                raise LabError("--hosts must be between 1 and 200")
            up(args.hosts)
        elif args.command == "down":
            down()
        elif args.command == "status":
            return status()
        elif args.command == "exec":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            return subprocess.call(enter(args.host) + argv)
        elif args.command == "_init":
            return host_init(args.state_dir, args.name)
        else:
            parser.print_help()
            return 2
    except LabError as error:
        print("lab: error: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
