# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The only code of the collection that runs Postfix commands.

Commands are argv lists (never a shell), with ``LC_ALL=C`` and ``-c DIR``
when an instance's config directory is given. Each failure becomes a
PostfixError whose message carries Postfix's own words and what to do.
Parsing is left to the pure modules (_queue.py).

subprocess is used rather than AnsibleModule.run_command on purpose:
run_command returns only when the command has ended, while a listing of
100,000 messages is parsed line by line as postqueue writes it (the two
overlap on two cores), and the runner stays usable without a module object
(tests, benchmarks). Commands are still argv lists with a fixed locale.
"""

from __future__ import absolute_import, division, print_function

import collections
import errno
import fcntl
import grp
import os
import pwd
import re
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _postcat, _queue
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import TOOLS
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postsuper import (
    merge_whole, parse_postsuper, passed_over, prove_whole)

# Searched after PATH: sbin is often missing from a non-root PATH.
FALLBACK_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
JSON_SINCE = (3, 1)
WHOLE_QUEUES = ("incoming", "active", "deferred")   # the queues a hold may take whole (postsuper -h ALL QUEUE...)
# The daemons that accept mail and apply the settings a block changes (restrictions, access maps, header checks): a
# reload has taken effect for mail coming in once none of them started before it is left.
INBOUND_DAEMONS = ("smtpd", "qmqpd", "cleanup")
# How many batches' postcat runs ahead of the batch being worked through (postcat_batches): postcat and the module's
# Python overlap on two cores; more would hold more batches' output for little (the host's disk and Postfix share them).
READ_AHEAD = 1
# Where ``postcat -q`` may find a queue ID (and more: a file found in any of these is not taken for gone), read in this
# order by queued_ids - active last again: the queue manager moves a message into active and out of it while the
# others are read, and a message read in neither place is taken for gone.
POSTCAT_QUEUES = ("active", "incoming", "maildrop", "hold", "deferred", "saved", "active")

# Postfix's words -> what the operator can do about them.
_HINTS = (
    (re.compile(r"reserved for the superuser|Permission denied"),
     "run the task as root (become: true)"),
    (re.compile(r"mail system is down|Queue report unavailable|Cannot flush"),
     "Postfix is not running: start it (root can still list a stopped queue)"),
    (re.compile(r"unauthorized configuration directory"),
     "list the directory in alternate_config_directories or multi_instance_directories "
     "of the default instance's main.cf, or run as root"),
    (re.compile(r"main\.cf: No such file or directory|No such file or directory.*main\.cf"),
     "no Postfix instance has its configuration there: check config_dir (postmulti -l lists instances)"),
)


# How far back a cooled main.cf's time stamp is set: Postfix reads a file again, pausing 300 ms each time,
# while its modification time is not at least two whole seconds before the read began (dict_load_file_xt(),
# util/dict.c).
COOLED_AGE = 3


def age_replaced(path: str, before: os.stat_result, started: float) -> bool:
    """Age PATH's modification time if postconf has just replaced it whole; returns whether it did.

    Every Postfix program reading main.cf within about two seconds of a change pauses "to let main.cf cool
    down" (300 ms steps, 1.5-2.4 s measured): the guard against reading a file that an editor is still
    writing in place. ``postconf -e``/``-X`` never write in place: they write main.cf.tmp and rename it over
    main.cf, so a reader sees the old file or the whole new one. The file is aged only when it is that
    renamed file - a different inode than BEFORE (the stat taken before postconf ran), modified since
    STARTED - so a file written in place by anyone else keeps Postfix's guard.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        now = os.fstat(descriptor)
        if (now.st_dev, now.st_ino) == (before.st_dev, before.st_ino) or now.st_mtime < int(started):
            return False
        os.utime(descriptor, (now.st_atime, now.st_mtime - COOLED_AGE))
        return True
    finally:
        os.close(descriptor)


class PostfixError(MailopsError):
    """A Postfix command could not be run or failed; the message says what to do."""

    def __init__(self, message: str, argv: Optional[List[str]] = None, rc: Optional[int] = None,
                 stderr: Optional[str] = None) -> None:
        super(PostfixError, self).__init__(message)
        self.argv = argv
        self.rc = rc
        self.stderr = stderr
        self.done: Optional[List[str]] = None     # a flush step's IDs done before the one that failed


def _command_failed(argv: List[str], rc: Optional[int], stderr: str) -> PostfixError:
    words = stderr.strip() or "(no message)"
    message = "%s failed (exit %s): %s" % (" ".join(argv), rc, words)
    for pattern, hint in _HINTS:
        if pattern.search(stderr):
            message += " -- " + hint
            break
    return PostfixError(message, argv, rc, stderr)


def _checked_ids(command: str, queue_ids: Iterable[str]) -> List[str]:
    """The IDs, if every one has Postfix's syntax and there is at least one; else PostfixError.

    Checked again here, just before a command gets them: nothing else is ever
    passed to Postfix, and a command that takes IDs never runs without one
    (for postsuper, no ID must never become ALL).
    """
    ids = list(queue_ids)
    bad = [queue_id for queue_id in ids if not _queue.is_queue_id(queue_id)]
    if bad or not ids:
        raise PostfixError("refusing to run %s with %s" % (command, "invalid IDs %r" % bad[:5] if bad else "no ID"))
    return ids


def parse_version(text: str) -> Tuple[int, ...]:
    """(3, 7, 11) from '3.7.11'; snapshots like '3.8-20230101' give (3, 8)."""
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        raise PostfixError("cannot read the Postfix version from %r" % (text,))
    return tuple(int(part) for part in match.groups() if part is not None)


# Where a configuration system owns main.cf and rewrites it: postconf -e changes do not last there.
_MANAGED_MARKERS = (("zimbra", ("/opt/zimbra/bin/zmprov", "/opt/zimbra/libexec/zmconfigd")),)


def managed_config(config_dir: str) -> Optional[str]:
    """The system that rewrites this instance's main.cf ('zimbra'), or None."""
    for name, markers in _MANAGED_MARKERS:
        if (config_dir or "").startswith("/opt/%s/" % name) or any(os.path.exists(path) for path in markers):
            return name
    return None


# How many times a hold of whole queues runs ``postsuper -h ALL`` at most: again while it passed over listed messages
# still in those queues (PostfixCLI._run_whole)
WHOLE_RUNS = 4


def queue_ids_on_disk(queue_directory: str, queue_name: str) -> List[str]:
    """The queue IDs in one queue's directory, read from the directory itself (root only; no postqueue, no race with
    a listing's own reading): what is on hold before a window opens, before and after a hold of a whole queue."""
    return sorted(_queue.queue_ids_in(entry.name for entry in queue_files(queue_directory, queue_name)))


def _regular_files(folder: str, found: List[Any]) -> List[Any]:
    """FOUND, with the regular files under FOLDER (os.DirEntry), its hashed subdirectories included: one list filled
    in one pass, not a generator level per subdirectory (at 101,000 files those were a third of the walk)."""
    try:
        with os.scandir(folder) as listed:
            entries = list(listed)
    except OSError:             # no such queue, or gone since its parent was read
        return found
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _regular_files(entry.path, found)
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                found.append(entry)
        except OSError:         # the type was not in the entry, and it could not be read from the file
            continue
    return found


def queue_files(queue_directory: str, queue_name: str) -> List[Any]:
    """The regular files in one queue's directory, its hashed subdirectories included (os.DirEntry): the one way this
    collection reads a queue directory. A queue file is a regular file; anything else there (a symbolic link, a
    socket) Postfix never made, and it is passed over. The type comes from the directory entry - no stat of each file
    (at 101,000 deferred messages a stat per file was three quarters of a reading's time)."""
    return _regular_files(os.path.join(queue_directory, queue_name), [])


def _complete(entry: Any) -> bool:
    """Whether an incoming queue file is complete: its owner may read, write and execute it (cleanup writes it without
    the execute bit until then)."""
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:             # gone since the directory was read
        return False
    return mode & stat.S_IRWXU == stat.S_IRWXU


def queued_on_disk(queue_directory: str, queue_names: Iterable[str]) -> Iterator[Dict[str, Any]]:
    """The messages in these queues, read from their directories (root only): each queue file Postfix itself would
    list - a regular file named as a queue ID, and in incoming one whose owner may read, write and execute it (cleanup
    writes an incoming file without the execute bit until it is complete; showq and postsuper pass over it until then,
    as mail_open_ok(3) says). Only cleanup writes queue files, and only into incoming: a file reaches active, deferred
    or hold by a rename once complete, so there the directory entry's type is enough (``queue_files``). A listing
    without envelopes (``_queue.on_disk``): no postqueue, no queue file opened."""
    for queue_name in queue_names:
        files = queue_files(queue_directory, queue_name)
        if queue_name == "incoming":
            files = [entry for entry in files if _complete(entry)]
        for queue_id in _queue.queue_ids_in(entry.name for entry in files):
            yield _queue.on_disk(queue_name, queue_id)


def master_running(queue_directory: str) -> Tuple[Optional[bool], str]:
    """(running, why): whether the instance's master runs, decided the way Postfix decides it.

    ``postfix status`` runs ``master -t``, which tries to lock pid/master.pid: a running master holds
    an exclusive lock on it for its whole life, and the kernel drops the lock when the master exits.
    A PID alone is not enough: a master that has exited but is not yet reaped (a zombie) still
    answers kill(pid, 0), and a stale master.pid may name a PID reused by another process.

    master.pid is readable by root only: root tests the lock itself (for an instant, as master -t
    does); other users look the file's lock up in /proc/locks (Linux). running is None when neither
    can be done.
    """
    path = os.path.join(queue_directory, "pid", "master.pid")
    try:
        handle = open(path, "rb")
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return False, "no master.pid in %s: Postfix is stopped" % os.path.dirname(path)
        locked = _locked_per_proc_locks(path)
        if locked is None:
            return None, "cannot tell whether Postfix runs: %s is not readable (%s) and /proc/locks is not available" % (
                path, exc.strerror)
        return locked, "master.pid is %s (seen in /proc/locks)" % ("locked by the master" if locked else "not locked")
    with handle:
        locked = _lock_held(handle.fileno())
        try:
            pid = int(handle.read().split()[0])
        except (ValueError, IndexError):
            pid = None
    if locked:
        return True, "master.pid is locked by the master (pid %s)" % pid
    return False, "master.pid is not locked: no master runs (%s)" % _describe_pid(pid)


def _lock_held(fd: int) -> bool:
    """Whether another process holds a lock on fd's file: flock style (Linux, BSD), then fcntl style."""
    for lock, unlock in ((fcntl.flock, fcntl.flock), (fcntl.lockf, fcntl.lockf)):
        try:
            lock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return True
            continue
        unlock(fd, fcntl.LOCK_UN)
    return False


def _locked_per_proc_locks(path: str) -> Optional[bool]:
    """Whether /proc/locks lists a lock on PATH's inode; None when it cannot be read (not Linux)."""
    try:
        info = os.stat(path)
        with open("/proc/locks") as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    exact = "%02x:%02x:%d" % (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    inode_only = False
    for line in text.splitlines():
        for field in line.split():
            if field == exact:
                return True
            # overlay filesystems show the lower device: the inode number alone then identifies the file
            if field.count(":") == 2 and field.rsplit(":", 1)[1] == str(info.st_ino):
                inode_only = True
    return inode_only


def _describe_pid(pid: int) -> str:
    """What the PID named in a master.pid that nobody locks is now (for the operator)."""
    if pid is None:
        return "master.pid names no PID"
    try:
        with open("/proc/%d/stat" % pid) as handle:
            command, state = handle.read().rsplit(")", 1)
        name, state = command.split("(", 1)[1], state.split()[0]
    except (IOError, OSError, ValueError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return "pid %d is gone" % pid
        return "pid %d is not locking it" % pid
    if state == "Z":
        return "pid %d is a zombie: it exited and is not yet reaped" % pid
    if name != "master":
        return "pid %d is not a Postfix master but %r" % (pid, name)
    return "pid %d is a master process that does not hold the lock" % pid


def _boot_ticks() -> Optional[float]:
    """Now, in clock ticks since boot (as /proc/PID/stat counts a process's start), or None without /proc."""
    try:
        with open("/proc/uptime") as handle:
            return float(handle.read().split()[0]) * os.sysconf("SC_CLK_TCK")
    except (IOError, OSError, ValueError, IndexError):
        return None


def _processes_started_before(queue_directory: str, commands: Iterable[str], ticks: float) -> List[Dict[str, Any]]:
    """The instance's master's children running one of COMMANDS that started before TICKS (since boot), as
    {"pid", "command"} by PID."""
    try:
        with open(os.path.join(queue_directory, "pid", "master.pid")) as handle:
            master = int(handle.read().split()[0])
    except (IOError, OSError, ValueError, IndexError):
        return []
    wanted = set(commands)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                name, _sep, rest = handle.read().rpartition(")")
        except (IOError, OSError):
            continue
        fields = rest.split()
        command = name.partition("(")[2]
        if command in wanted and len(fields) > 19 and int(fields[1]) == master and int(fields[19]) < ticks:
            found.append({"pid": int(entry), "command": command})
    return sorted(found, key=lambda process: process["pid"])


class Step:
    """One command the runner runs - its argv, the IDs it acts on (on stdin for postsuper), what it is for.

    The same object is run and shown (``shown``, in the result's batches and the audit): what is reported
    is what ran.
    """

    def __init__(self, kind: str, argv: List[str], ids: Iterable[str] = (), queues: Iterable[str] = (),
                 flag: Optional[str] = None, whole: bool = False) -> None:
        self.kind = kind          # postsuper | flush | flush_all
        self.argv = argv
        self.ids = list(ids)      # with whole: the IDs listed in the queue, which postsuper is not given
        self.queues = tuple(queues)
        self.flag = flag
        self.whole = whole        # postsuper FLAG ALL queue
        self.directory = ""       # with whole: the queue directory whose hold directory proves the outcome

    @property
    def shown(self) -> str:
        """The command as it ran: for a flush, ``postqueue [-c DIR] -i ID`` once per ID (Postfix takes one ID a call)."""
        if self.kind == "flush":
            return "%s ID (run once per ID: %d run%s)" % (" ".join(self.argv), len(self.ids), "" if len(self.ids) == 1 else "s")
        return " ".join(self.argv)

    @property
    def stdin(self) -> Optional[str]:
        return "".join(queue_id + "\n" for queue_id in self.ids) if self.kind == "postsuper" and not self.whole else None


class PostfixCLI:
    """Runs one Postfix instance's commands."""

    @classmethod
    def from_params(cls, params: Dict[str, Any]) -> "PostfixCLI":
        """The runner for a module's instance options (config_dir, postfix_bin_dir, postfix_tool_paths)."""
        return cls(config_dir=params["config_dir"], bin_dir=params["postfix_bin_dir"],
                   tool_paths=params["postfix_tool_paths"])

    def __init__(self, config_dir: Optional[str] = None, bin_dir: Optional[str] = None,
                 tool_paths: Optional[Dict[str, str]] = None, environ: Optional[Dict[str, str]] = None) -> None:
        self.config_dir = config_dir
        self.bin_dir = bin_dir
        self.tool_paths = {k: v for k, v in (tool_paths or {}).items() if v}
        env = dict(os.environ if environ is None else environ)
        env["LC_ALL"] = "C"
        self.env = env
        self.warnings = []
        self._found = {}

    # ------------------------------------------------------------ locating tools

    def tool(self, name: str) -> str:
        """The path of a Postfix tool: per-tool path, else postfix_bin_dir, else PATH and sbin."""
        if name in self._found:
            return self._found[name]
        if name in self.tool_paths:
            candidates, where = [self.tool_paths[name]], "postfix_tool_paths.%s" % name
        elif self.bin_dir:
            candidates, where = [os.path.join(self.bin_dir, name)], "postfix_bin_dir %s" % self.bin_dir
        else:
            dirs = [d for d in self.env.get("PATH", "").split(os.pathsep) if d] + list(FALLBACK_DIRS)
            candidates, where = [os.path.join(d, name) for d in dirs], "PATH or %s" % ", ".join(FALLBACK_DIRS)
        for path in candidates:
            if os.path.isfile(path) and os.access(path, os.X_OK):
                self._found[name] = path
                return path
        raise PostfixError("%s not found (looked in %s): is Postfix installed? "
                           "Set postfix_bin_dir (e.g. /opt/zimbra/common/sbin) or postfix_tool_paths."
                           % (name, where))

    def argv(self, name: str, *args: str) -> List[str]:
        argv = [self.tool(name)]
        if self.config_dir:
            # sendmail names the instance with -C (-c is something else to it)
            argv += ["-C" if name == "sendmail" else "-c", self.config_dir]
        argv.extend(args)
        return argv

    # ------------------------------------------------------------ running

    def run(self, argv: List[str], data: Optional[str] = None) -> Tuple[Optional[int], str, str]:
        """Run to completion; returns (rc, stdout, stderr) as text."""
        rc, out, err = self.run_bytes(argv, None if data is None else data.encode("utf-8"))
        return rc, out.decode("utf-8", "replace"), err

    def run_bytes(self, argv: List[str], data: Optional[bytes] = None,
                  timeout: Optional[float] = None) -> Tuple[Optional[int], bytes, str]:
        """Run to completion with bytes in and out; returns (rc, stdout bytes, stderr text).

        With ``timeout`` (seconds), a command still running then is ended and rc is None.
        """
        try:
            # pylint: disable-next=ansible-bad-function
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, close_fds=True)
        except OSError as exc:
            raise PostfixError("cannot run %s: %s" % (argv[0], exc), argv)
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return None, out, err.decode("utf-8", "replace")
        return proc.returncode, out, err.decode("utf-8", "replace")

    def run_to_exit(self, argv: List[str], timeout: float = 600) -> Tuple[Optional[int], str, str]:
        """Run until the command itself exits, not until its output ends; returns (rc, stdout, stderr) as text.

        stdout and stderr go to temporary files (run_to_files), so a process the command leaves running in the
        background does not hold a pipe open - ``postfix reload`` ends with ``postsuper &``, which checks the whole
        queue (about 4.5 s at 100,000 queued messages) and which reading to the end of a pipe would wait for. A
        command still running after TIMEOUT seconds is killed (rc None).
        """
        rc, out, err = self.run_to_files(argv, timeout)
        return rc, out.decode("utf-8", "replace"), err

    def run_to_files(self, argv: List[str], timeout: Optional[float] = None) -> Tuple[Optional[int], bytes, str]:
        """Run to its exit with stdout and stderr in temporary files, then read them: (rc, stdout bytes, stderr text).

        For a command that prints much in small writes (postcat writes a record at a time), reading a pipe to its end
        costs a wake-up per write; the files are read once, whole. A command still running after TIMEOUT seconds is
        killed (rc None).
        """
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                # pylint: disable-next=ansible-bad-function
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env,
                                        close_fds=True)
            except OSError as exc:
                raise PostfixError("cannot run %s: %s" % (argv[0], exc), argv)
            try:
                rc = proc.wait(timeout=timeout)     # type: Optional[int]
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = None
            out.seek(0)
            err.seek(0)
            return rc, out.read(), err.read().decode("utf-8", "replace")

    def stream(self, argv: List[str]) -> Iterator[str]:
        """Yield stdout lines (without newline) while the command runs.

        stderr goes to a temporary file, so no pipe can fill and block. When
        the command ends with a non-zero status, PostfixError is raised after
        the last line; its warnings on success are kept in ``self.warnings``.
        If the reader stops early, the command is killed.
        """
        with tempfile.TemporaryFile() as err:
            try:
                # pylint: disable-next=ansible-bad-function
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                        env=self.env, close_fds=True)
            except OSError as exc:
                raise PostfixError("cannot run %s: %s" % (argv[0], exc), argv)
            done = False
            try:
                for raw in proc.stdout:
                    yield raw.decode("utf-8", "replace").rstrip("\n")
                done = True
            finally:
                if not done:
                    proc.kill()
                proc.stdout.close()
                rc = proc.wait()
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if rc != 0:
            raise _command_failed(argv, rc, stderr)
        self.warnings.extend(line for line in stderr.splitlines() if line.strip())

    def check(self, argv: List[str], data: Optional[str] = None) -> str:
        """Run; raise PostfixError unless it exits 0. Returns stdout."""
        rc, out, err = self.run(argv, data)
        if rc != 0:
            raise _command_failed(argv, rc, err)
        return out

    # ------------------------------------------------------------ queries

    def instance(self) -> Dict[str, Any]:
        """Version and identity of the instance: one postconf call."""
        info = self.postconf("mail_version", "config_directory", "queue_directory", "multi_instance_name")
        return {
            "name": info["multi_instance_name"] or "postfix",
            "config_dir": info["config_directory"],
            "queue_directory": info["queue_directory"],
            "mail_version": info["mail_version"],
            "version": parse_version(info["mail_version"]),
        }

    @staticmethod
    def choose_source(source: str, version: Sequence[int]) -> str:
        """'json' from Postfix 3.1 when source is auto; refuse json on older versions."""
        has_json = tuple(version) >= JSON_SINCE
        if source == "auto":
            return "json" if has_json else "text"
        if source == "json" and not has_json:
            raise PostfixError("source=json needs Postfix 3.1 or newer (postqueue -j); this is %s: use source=text"
                               % ".".join(str(v) for v in version))
        if source not in ("json", "text"):
            raise PostfixError("unknown source %r" % (source,))
        return source

    def list_queue(self, source: str, now: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """Yield every queued message (parsed by _queue), once each."""
        if source == "json":
            lines = self.stream(self.argv("postqueue", "-j"))
            messages = _listing.iter_json_lines(lines)
        else:
            lines = self.stream(self.argv("postqueue", "-p"))
            messages = _listing.iter_mailq(lines, now)
        return messages

    @staticmethod
    def list_on_disk(queue_directory: str, queue_names: Sequence[str]) -> Iterator[Dict[str, Any]]:
        """Yield the messages of these queues from their directories (``queued_on_disk``): queue and ID only."""
        return queued_on_disk(queue_directory, queue_names)

    def postconf(self, *names: str) -> Dict[str, str]:
        """{name: value} of the instance's parameters."""
        out = self.check(self.argv("postconf", "-h") + list(names))
        values = out.splitlines()
        if len(values) != len(names):
            raise PostfixError("unexpected postconf output: %r" % (out,))
        return dict(zip(names, values))

    def settings(self, *names: str) -> Dict[str, Dict[str, Any]]:
        """{name: {"explicit": whether main.cf sets it, "value": its text as written (unexpanded)}}.

        ``postconf -n`` prints only what main.cf sets; the rest have Postfix's default.
        """
        explicit = {}
        for line in self.check(self.argv("postconf", "-n") + list(names)).splitlines():
            name, sep, value = line.partition(" = ")
            if not sep and line.endswith(" ="):
                name, value = line[:-2], ""
            explicit[name.strip()] = value
        defaults = self.postconf(*names)
        return {name: {"explicit": name in explicit, "value": explicit.get(name, defaults[name])}
                for name in names}

    def mail_owner_uid(self) -> Optional[int]:
        """The uid of Postfix's mail owner (``mail_owner``), or None when that account does not exist here."""
        if "mail_owner_uid" not in self._found:
            try:
                self._found["mail_owner_uid"] = pwd.getpwnam(self.postconf("mail_owner")["mail_owner"]).pw_uid
            except KeyError:
                self._found["mail_owner_uid"] = None
        return self._found["mail_owner_uid"]

    def default(self, name: str) -> str:
        """Postfix's default value of a parameter (``postconf -d``)."""
        return self.check(self.argv("postconf", "-dh", name)).rstrip("\n")

    def set_parameters(self, values: Dict[str, Optional[str]], config_dir: str) -> None:
        """Set main.cf parameters (``postconf -e``); a value of None removes the setting (``postconf -X``).

        Each edit is left cooled (see age_replaced): the reload and the commands that follow do not wait
        for main.cf to cool down.
        """
        main_cf = os.path.join(config_dir, "main.cf")
        changed = {name: value for name, value in values.items() if value is not None}
        removed = sorted(name for name, value in values.items() if value is None)
        edits = []
        if changed:
            edits.append(self.argv("postconf", "-e") + ["%s=%s" % (name, value) for name, value in sorted(changed.items())])
        if removed:
            edits.append(self.argv("postconf", "-X") + removed)
        for argv in edits:
            before = os.stat(main_cf)
            started = time.time()
            self.check(argv)
            age_replaced(main_cf, before, started)

    def reload(self, config_dir: str, queue_directory: Optional[str] = None, timeout: float = 60,
               commands: Iterable[str] = ("cleanup",)) -> Dict[str, Any]:
        """``postfix -c DIR reload``: the instance's master re-reads main.cf and its services restart with it.

        Always with -c: without it, a host with postmulti's multi_instance_wrapper reloads every instance. Postfix's
        reload does not wait: the master asks its children to exit, and a busy one exits only once it is done - an
        smtpd at the end of its client's session, a cleanup after its message -, applying the old settings until
        then. With ``queue_directory``, returns only once every process running one of COMMANDS (daemon names, as
        master.cf's command column has them) that the master started before the reload has exited, or TIMEOUT
        seconds have passed. Returns {"waited_for": [{"pid", "command"}] old processes found right after the reload,
        "still_running": those left at the timeout, "seconds": the wait, "warnings": [one when any is left]}.
        """
        before = _boot_ticks()
        argv = [self.tool("postfix"), "-c", config_dir, "reload"]
        rc, _out, err = self.run_to_exit(argv)       # not waiting for the queue check it leaves in the background
        if rc != 0:
            raise _command_failed(argv, rc, err)
        outcome = {"waited_for": [], "still_running": [], "seconds": 0.0, "warnings": []}   # type: Dict[str, Any]
        if queue_directory is None or before is None:
            return outcome
        started = time.monotonic()
        old = outcome["waited_for"] = _processes_started_before(queue_directory, commands, before)
        while old:
            if time.monotonic() - started >= timeout:
                outcome["still_running"] = old
                outcome["warnings"].append(
                    "%s started before the reload %s still running after %ds (%s): until they exit, what they accept "
                    "gets the old settings" % (" and ".join(sorted(set(p["command"] for p in old))),
                                               "is" if len(old) == 1 else "are", timeout,
                                               ", ".join("pid %d" % p["pid"] for p in old)))
                break
            time.sleep(0.05)
            old = _processes_started_before(queue_directory, commands, before)
        outcome["seconds"] = round(time.monotonic() - started, 3)
        return outcome

    def map_types(self) -> List[str]:
        """The lookup table types this Postfix supports (``postconf -m``)."""
        return sorted(self.check(self.argv("postconf", "-m")).split())

    def postmap(self, map_type: str, path: str) -> None:
        """``postmap TYPE:PATH``: (re)build the indexed table of the map file PATH."""
        self.check(self.argv("postmap", "%s:%s" % (map_type, path)))

    def master_overrides(self) -> str:
        """master.cf's per-service parameter overrides, ``postconf -P`` (service/type/name = value lines)."""
        return self.check(self.argv("postconf", "-P"))

    def tools_found(self) -> Dict[str, str]:
        """{tool: path} of every Postfix tool that can be found (missing ones left out)."""
        found = {}
        for name in TOOLS:
            try:
                found[name] = self.tool(name)
            except PostfixError:
                pass
        return found

    # ------------------------------------------------------------ acting

    def postsuper_step(self, flag: str, queue_ids: Iterable[str], queues: Iterable[str] = ()) -> Step:
        """``postsuper -FLAG - [queue ...]`` with the IDs on stdin (the queues restrict it to where they were listed)."""
        return Step("postsuper", self.argv("postsuper", "-" + flag, "-") + list(queues), queue_ids, queues, flag)

    def postsuper_whole_step(self, flag: str, queues: Sequence[str], listed_ids: Iterable[str], queue_directory: str) -> Step:
        """``postsuper -FLAG ALL queue...``: whole queues, in one run; which of their listed IDs it acted on is proved
        from the queue directory (``_postsuper.prove_whole``) - postsuper prints no per-ID lines for ALL. One run for
        all of them, so that a message that moved between them since the listing (active to deferred) is proved too."""
        step = Step("postsuper", self.argv("postsuper", "-" + flag, "ALL", *queues), listed_ids, queues, flag, whole=True)
        step.directory = queue_directory
        return step

    def flush_step(self, queue_ids: Iterable[str]) -> Step:
        """``postqueue -i ID`` for each ID (Postfix takes one ID per call): one step, one run per ID."""
        return Step("flush", self.argv("postqueue", "-i"), queue_ids)

    def flush_all_step(self, queue_ids: Iterable[str]) -> Step:
        """``postqueue -f``: attempt delivery of the whole deferred queue now."""
        return Step("flush_all", self.argv("postqueue", "-f"), queue_ids)

    def _run_whole(self, step: Step) -> Tuple[Optional[int], Any]:
        """``postsuper -h ALL queue...``, proved from the hold directory - and run again, at most WHOLE_RUNS times in
        all, while listed messages it passed over are still in those queues: postsuper reads the queues one directory
        after another while the queue manager renames mail between them (deferred into active and back - at 100,000
        deferred messages with a dead relay, hundreds a second), and a message renamed into a directory it has
        already read is passed over. Each run holds what is there; each run's proof adds the listed IDs it held."""
        before = queue_ids_on_disk(step.directory, "hold")
        rc, _out, err = self.run(step.argv)
        after = queue_ids_on_disk(step.directory, "hold")
        outcome = prove_whole(err, step.flag, step.ids, before, after)
        for _again in range(WHOLE_RUNS - 1):
            if rc != 0 or outcome.fatal:
                break
            left = passed_over(step.ids, outcome, step.flag,
                               [queue_id for queue in step.queues for queue_id in queue_ids_on_disk(step.directory, queue)])
            if not left:
                break
            before = after
            rc, _out, err = self.run(step.argv)
            after = queue_ids_on_disk(step.directory, "hold")
            outcome = merge_whole(outcome, prove_whole(err, step.flag, left, before, after))
        return rc, outcome

    def run_step(self, step: Step) -> Tuple[Optional[int], Any]:
        """Run a step. postsuper: (rc, PostsuperOutcome), the accounting is in its stderr; a flush: (0, the IDs asked for
        delivery), or PostfixError whose ``done`` says which IDs were, before the one that failed."""
        if step.kind == "postsuper" and step.whole:
            if step.flag != "h" or not step.queues or not set(step.queues) <= set(WHOLE_QUEUES):
                raise PostfixError("refusing %s: only a hold takes a whole queue" % step.shown)   # never ALL by accident
            return self._run_whole(step)
        if step.kind == "postsuper":
            _checked_ids("postsuper", step.ids)
            rc, _out, err = self.run(step.argv, step.stdin)
            return rc, parse_postsuper(err)
        if step.kind == "flush":
            done = []
            for queue_id in _checked_ids("postqueue -i", step.ids):
                try:
                    self.check(step.argv + [queue_id])
                except PostfixError as exc:
                    exc.done = done           # the IDs this step flushed before the one that failed
                    raise
                done.append(queue_id)
            return 0, done
        self.check(step.argv)
        return 0, list(step.ids)

    @staticmethod
    def count_in_flight(queue_directory: str) -> int:
        """Messages in the active and incoming queues, counted from the queue directories (``queue_files``: each
        regular file, an incoming one still being written included)."""
        return sum(1 for name in ("active", "incoming") for _entry in queue_files(queue_directory, name))

    def wait_in_flight_below(self, queue_directory: str, bound: int, timeout: float, poll: float = 0.5) -> int:
        """Back-pressure: wait until active + incoming < bound; PostfixError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.count_in_flight(queue_directory)
            if count < bound:
                return count
            if time.monotonic() >= deadline:
                raise PostfixError("active + incoming stayed at %d (max_active %d) for %ss: stopped before the next batch"
                                   % (count, bound, timeout))
            time.sleep(poll)

    @staticmethod
    def running(queue_directory: str) -> Optional[bool]:
        """Whether the instance's master process runs (see master_running)."""
        return master_running(queue_directory)[0]

    @staticmethod
    def writable_by(path: str, user: str) -> bool:
        """Whether ``user`` could append to ``path`` (a file postsuper logs to)."""
        try:
            info = os.stat(path)
            account = pwd.getpwnam(user)
        except (OSError, KeyError):
            return False
        groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {account.pw_gid}
        if info.st_uid == account.pw_uid:
            return bool(info.st_mode & stat.S_IWUSR)
        if info.st_gid in groups:
            return bool(info.st_mode & stat.S_IWGRP)
        return bool(info.st_mode & stat.S_IWOTH)

    # ------------------------------------------------------------ archive and re-injection

    def postcat(self, queue_ids: Iterable[str], flags: Iterable[str] = ()) -> Tuple[Optional[int], bytes, str]:
        """``postcat -q [FLAGS] ID...`` (one run for many IDs); returns (rc, stdout bytes, stderr). Its output goes
        to a temporary file, read once it exits (run_to_files): a third less time than reading its pipe, at 100,000
        envelopes."""
        return self.run_to_files(self.argv("postcat", "-q", *(tuple(flags) + tuple(_checked_ids("postcat", queue_ids)))))

    def queued_ids(self) -> Optional[Set[str]]:
        """The queue IDs of every file now in the queues ``postcat -q`` looks in (POSTCAT_QUEUES), from one read of
        their directories; None when one of them cannot be read (not root): then nothing is known from them."""
        if "queue_directory" not in self._found:
            self._found["queue_directory"] = self.postconf("queue_directory")["queue_directory"]
        queue_directory = self._found["queue_directory"]
        folders = [os.path.join(queue_directory, queue) for queue in POSTCAT_QUEUES]
        if not os.path.isdir(queue_directory) or not all(os.access(folder, os.R_OK | os.X_OK)
                                                         for folder in folders if os.path.lexists(folder)):
            return None
        return set(_queue.queue_ids_in(entry.name for queue in POSTCAT_QUEUES
                                       for entry in queue_files(queue_directory, queue)))

    def postcat_messages(self, queue_ids: Iterable[str], reading: str = "whole",
                         first: Optional[Tuple[Optional[int], bytes, str]] = None
                         ) -> Iterator[Tuple[str, str, Optional[Dict[str, Any]]]]:
        """Every message of QUEUE_IDS as postcat prints it, in order: yields ("message", ID, printed) or ("gone", ID, None).

        ``reading`` is what postcat prints: "envelope" (``-e``, the envelope records), "headers" (``-e -h``),
        "whole" (everything). One ``postcat -q`` for many IDs, its output split by _postcat. postcat prints in
        order and dies at the first ID it cannot open - a message gone since the listing: that ID is gone and
        postcat is asked again for the rest, less those no longer in the queue directories (read once, at the first
        ID gone: ``queued_ids``) - a delivery going on must not cost a postcat run per message it delivered. Any other
        failure is a PostfixError. ``first``, when given, is what the first ``postcat`` of all of QUEUE_IDS returned
        (run ahead by postcat_batches).
        """
        flags = _postcat.FLAGS[reading]
        remaining = list(queue_ids)
        gone = set()        # type: Set[str]
        looked = False
        while remaining:
            asked = [queue_id for queue_id in remaining if queue_id not in gone]
            if first is not None:
                rc, out, err = first
            elif asked:
                rc, out, err = self.postcat(asked, flags)
            else:               # every ID left is known gone: nothing to ask postcat for
                rc, out, err = 0, b"", ""
            first = None
            try:
                printed = _postcat.split(out, asked)
            except _postcat.PostcatError as exc:
                raise PostfixError("postcat printed what cannot be read (%s): nothing was changed" % exc,
                                   ["postcat"], rc, err)
            written = 0
            for queue_id in remaining:
                if queue_id in gone:
                    yield "gone", queue_id, None
                elif queue_id in printed:
                    yield "message", queue_id, printed[queue_id]
                else:
                    break
                written += 1
            remaining = remaining[written:]
            if rc == 0 and not remaining:
                return
            missing = _postcat.missing_id(err)
            if rc == 0 or missing is None or not remaining or remaining[0] != missing:
                raise PostfixError("postcat failed (exit %s): %s" % (rc, err.strip() or "no message"),
                                   ["postcat"], rc, err)
            yield "gone", missing, None
            remaining = remaining[1:]
            if remaining and not looked:
                # A queue in motion (deliveries going on) loses many listed messages before postcat reads them: the
                # others gone too are found by one read of the queue directories, not by a postcat run each.
                looked = True
                queued = self.queued_ids()
                if queued is not None:
                    gone = set(remaining) - queued

    def postcat_batches(self, batches: Iterable[List[str]], reading: str = "whole", ahead: int = READ_AHEAD
                        ) -> Iterator[Iterator[Tuple[str, str, Optional[Dict[str, Any]]]]]:
        """For each batch of queue IDs, in order: its messages, as postcat_messages yields them.

        While the caller works through one batch (parsing it, writing an archive, fsync), the ``postcat`` of the
        next AHEAD batches already runs, each in a thread of its own: postcat reading queue files and the caller's
        Python overlap, as ``postcat | filter`` does in a shell pipeline. Only postcat's first run of a batch runs
        ahead; a message gone since the listing is handled, in order, when its batch is worked through. At most
        AHEAD + 1 batches' output is held at once. Each batch's messages must be consumed before the next batch.
        """
        flags = _postcat.FLAGS[reading]
        source = iter(batches)
        with ThreadPoolExecutor(max_workers=ahead + 1) as pool:
            started = collections.deque()   # type: Any
            while True:
                while len(started) <= ahead:
                    batch = next(source, None)
                    if batch is None:
                        break
                    started.append((batch, pool.submit(self.postcat, batch, flags)))
                if not started:
                    return
                batch, running = started.popleft()
                yield self.postcat_messages(batch, reading, first=running.result())

    def reinject(self, sender: str, recipients: List[str], content: bytes) -> None:
        """Submit a message again with its envelope: ``sendmail -i -f SENDER -- RCPT...``."""
        if not recipients:
            raise PostfixError("refusing to re-inject a message without recipients")
        argv = self.argv("sendmail", "-i", "-f", sender if sender else "<>", "--", *recipients)
        rc, _out, err = self.run_bytes(argv, content)
        if rc != 0:
            raise _command_failed(argv, rc, err)

    def log(self, tag: str, text: str) -> Optional[str]:
        """One line to Postfix's own log (syslog or maillog_file) with postlog; None or Postfix's words."""
        rc, _out, err = self.run_bytes(self.argv("postlog", "-p", "info", "-t", tag, text), timeout=10)
        return None if rc == 0 else (err.strip() or "postlog exited %s" % rc)

    def wake_pickup(self) -> Optional[str]:
        """``postkick public pickup W``: pickup reads maildrop now, not within its next minute.

        postsuper -r leaves requeued mail in maildrop without waking pickup.
        Returns None, or Postfix's words when it could not (pickup stopped or
        disabled): the requeue itself is done either way.
        """
        # postkick waits for pickup to answer, which is after pickup has worked through maildrop:
        # a woken pickup busy with a large requeue is fine, so a time-out is not an error.
        rc, _out, err = self.run_bytes(self.argv("postkick", "public", "pickup", "W"), timeout=5)
        return None if rc in (0, None) else (err.strip() or "postkick exited %s" % rc)
