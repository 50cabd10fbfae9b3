"""The kernel factory: sandboxed kernels forked from a process that imported TensorFlow once.

Every kernel used to import TensorFlow and ipykernel itself (3-4 s of CPU each, most of a 02 submission's
kernel). A root grader now starts one factory (the "zygote") per set of hidden folders: a bubblewrap sandbox
with the kernels' allow-list view, the grader's job folders and the CPU-only data, in which a root process
imports TensorFlow (without Keras, as 02's preamble does) and ipykernel, then forks a kernel for each request.
Each forked kernel gets what bubblewrap gave a kernel of its own, before any of its code runs:

- new mount, network, IPC, UTS, cgroup and PID namespaces (it is PID 1 of its own, and sees only its processes);
- a fresh ``/tmp`` (``/dev`` is bwrap's, which no kernel can write), and over the folder that holds the jobs a fresh empty one with only its own
  work and runtime folders and its data files (read-only) bound in: other jobs, the jobs' submissions, the
  factory's data folder are not there;
- its rlimits, then no capabilities (bounding, ambient, inheritable sets cleared), no new privileges, its own
  user id (``sandbox.claim_user``), a parent-death signal, its own session;
- the job's scrubbed environment, its work folder as current folder and first import path.

The grader's side stays as it was: the kernelspec's program is this module's client, which sends the request
(with its standard streams) and lives as long as the kernel; jupyter_client sees it as the kernel's process.
The client registers the kernel's process id (``adopted``) so the watchdog counts the kernel's CPU time and
memory in the client's tree; a client killed or gone takes the kernel down (its monitor sees the socket close).
Where the factory cannot serve (not started, dead, a data file it does not hold) the client runs the sandbox's
usual launcher instead: the same view, without the saving.

``python -m autograder.engine.zygote serve FD`` (the factory, in bwrap) / ``... connect SOCKET JOB -f FILE``.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

REQUEST = "zygote.json"   # in the job folder: what the client asks for (written by kernels.start_job)
DATA = Path("/.ag-data")   # where the factory's view holds each data file a kernel may get
HEADER = struct.Struct("!I")
# PID 1 of a forked kernel's namespace: reap, and exit as the kernel did
WAITER = ("import os, sys\nkernel = int(sys.argv[1])\nwhile True:\n    pid, status = os.wait()\n"
          "    if pid == kernel:\n        os._exit(os.waitstatus_to_exitcode(status) & 255)\n")
_IMPORTS_ENV: dict = {}   # (the factory) environment variables its imports set
MAX_REQUEST = 1 << 20
CONNECT_WAIT_S = 90   # the factory's first kernel waits for its imports (3-10 s on a loaded 2-core machine)

# linux/sched.h, linux/mount.h, linux/prctl.h
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
OPEN_TREE, MOVE_MOUNT = 428, 429   # Linux 5.2 (the same number on every architecture); older: the launcher
OPEN_TREE_CLONE, AT_RECURSIVE, AT_FDCWD, MOVE_MOUNT_F_EMPTY_PATH = 1, 0x8000, -100, 4
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_KEEPCAPS, PR_CAPBSET_DROP = 1, 4, 8, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()   # noqa: E731
    _check(_libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {dst}")


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def _at(path: Path, call) -> None:
    """``call(path)`` for a socket's path, through its folder's descriptor: a socket's path must fit in 107
    bytes, which a deep TMPDIR passes."""
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        call(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


# -- the grader's side: registry of adopted kernels ------------------------------------------------------------

def adopted_dir() -> Path:
    # one place for the grader, its execution workers and the clients, whatever TMPDIR each has (root only)
    return Path("/tmp/autograder-adopted")


def adopted(client_pid: int):
    """The kernel a client process stands for (a psutil.Process), or None: checked against process ids reused."""
    import psutil

    try:
        pid, started, client_started = (adopted_dir() / str(client_pid)).read_text().split()
        kernel, client = psutil.Process(int(pid)), psutil.Process(client_pid)
        if f"{kernel.create_time():.3f}" == started and f"{client.create_time():.3f}" == client_started:
            return kernel
    except (OSError, ValueError, psutil.Error):
        pass
    return None


# -- the grader's side: the factory ---------------------------------------------------------------------------

EXEC_DYING_WITH_PARENT = ("import os, sys\nfrom autograder.engine.sandbox import die_with_parent\n"
                          "die_with_parent()\nos.execvp(sys.argv[1], sys.argv[1:])")


class Zygote:
    """A running factory: its bwrap process, its socket and the data files its view holds."""

    def __init__(self, key: tuple, jobs_root: Path, hide, device: str, env: dict):
        import subprocess
        import tempfile

        from autograder import datasets
        from autograder.engine import sandbox

        self.key = key
        self.folder = Path(tempfile.mkdtemp(prefix="ag-zygote-"))   # 0700: the grader's alone
        (self.folder / "owner.pid").write_text(str(os.getpid()))   # see batch.clean_stale_jobs
        self.socket_path = self.folder / "socket"
        self.data: dict[str, str] = {}   # the grader's file -> where the factory sees it
        for name in datasets.PROVIDERS:
            provider = datasets.get(name)
            src = provider.source()
            for f in provider.kernel_files if src is not None else ():
                self.data[str((src / f).resolve())] = str(DATA / str(len(self.data)))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _at(self.socket_path, listener.bind)
        listener.listen(64)
        bwrap = sandbox.bwrap_command([jobs_root], hide=hide, device=device, chdir=Path("/"), own_pids=False,
                                      data_binds={Path(v): Path(k) for k, v in self.data.items()})
        # root in the view, with its capabilities: each fork makes its kernel's namespaces, then drops them all
        # bwrap arms its parent-death signal only once it runs: a grader killed before that left bwrap and the
        # factory under init. So bwrap starts as the kernels' launchers do, its signal armed first
        # (sandbox.die_with_parent), then exec'd.
        cmd = [sys.executable, "-c", EXEC_DYING_WITH_PARENT,
               *bwrap, "--cap-add", "ALL", sys.executable, "-m", "autograder.engine.zygote", "serve",
               str(listener.fileno()), str(jobs_root)]
        log = open(self.folder / "zygote.log", "wb")
        self.proc = subprocess.Popen(cmd, env={**env, sandbox.PARENT: str(os.getpid())},
                                     pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, cwd="/")
        log.close()
        listener.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        import shutil

        if self.proc.poll() is None:
            import psutil

            try:   # the factory, then bwrap (the factory would die with it); its monitors and kernels die with it
                for p in psutil.Process(self.proc.pid).children():
                    p.kill()
            except psutil.Error:
                pass
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_zygotes: dict[tuple, Zygote] = {}
_spawner = None
MAX_ZYGOTES = 2


def enabled() -> bool:
    """On for root graders on Linux; ``AUTOGRADER_NO_ZYGOTE=1`` launches every kernel through bwrap instead."""
    return os.geteuid() == 0 and sys.platform.startswith("linux") and not os.environ.get("AUTOGRADER_NO_ZYGOTE")


def get(jobs_root: Path, hide, device: str, env: dict) -> Zygote | None:
    """The factory for kernels whose jobs live in ``jobs_root`` and that must not see ``hide``; started once."""
    global _spawner
    if not enabled() or device != "cpu":
        return None
    from autograder.engine.sandbox import outermost

    # (each student's own folders of a class folder: the class folder, hidden whole, so one factory per worker)
    key = (Path(jobs_root).resolve(), outermost(hide))
    z = _zygotes.get(key)
    if z is not None and z.alive():
        return z
    if z is not None:
        z.close()
        del _zygotes[key]
    while len(_zygotes) >= MAX_ZYGOTES:   # another course or --keep folder: the oldest goes
        _zygotes.pop(next(iter(_zygotes))).close()
    if _spawner is None:
        # bwrap dies with the thread that started it (its parent-death signal): a thread that lives as long as
        # this process, not whichever short-lived thread asks first
        import atexit
        from concurrent.futures import ThreadPoolExecutor

        _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zygote")
        atexit.register(close_all)
    z = _spawner.submit(Zygote, key, key[0], sorted(key[1]), device, env).result()
    _zygotes[key] = z
    return z


def close_all() -> None:
    while _zygotes:
        _zygotes.popitem()[1].close()


def _forget_after_fork() -> None:
    """(a grading process forked by one that had factories: a process pool) they and their spawner thread are
    the parent's: closing one here would remove its socket, and the spawner thread does not exist here."""
    global _spawner
    _zygotes.clear()
    _spawner = None


os.register_at_fork(after_in_child=_forget_after_fork)


def request(job: Path, *, zygote: Zygote, work: Path, runtime: Path, data_binds: dict, limits, twin: bool,
            fallback: list[str]) -> list[str] | None:
    """Write the job's request; the kernelspec argv that sends it (None: the factory cannot serve this job)."""
    data = {}
    for dst, src in data_binds.items():
        held = zygote.data.get(str(Path(src).resolve()))
        if held is None:
            return None
        data[str(dst)] = held
    spec = {"socket": str(zygote.socket_path), "work": str(work), "runtime": str(runtime), "data": data,
            "uid": limits.uid, "twin": twin, "fallback": fallback,
            "rlimits": {"nproc": limits.nproc, "nofile": limits.nofile, "fsize": limits.fsize_mb * 2**20,
                        "cpu": limits.cpu_s}}
    (job / REQUEST).write_text(json.dumps(spec))
    os.chmod(job / REQUEST, 0o600)
    return [sys.executable, "-m", "autograder.engine.zygote", "connect", str(job), "-f", "{connection_file}"]


# -- the client (the kernelspec's program, the grader's user, outside any sandbox) ------------------------------

def _client(job: Path, conn: str) -> None:
    from autograder.engine.sandbox import die_with_parent

    # dies with the execution worker, as a launcher does (the worker exits without shutting its kernel down);
    # its socket's end then takes the kernel down
    die_with_parent()
    spec = json.loads((job / REQUEST).read_text())
    os.environ.pop("JPY_PARENT_PID", None)
    message = json.dumps({**{k: spec[k] for k in ("work", "runtime", "data", "uid", "twin", "rlimits")},
                          "conn": conn, "job": str(job), "env": dict(os.environ)}).encode()
    pid = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(CONNECT_WAIT_S)   # a factory that takes no request (stuck, dying) leaves it to the launcher
        _at(Path(spec["socket"]), s.connect)
        s.sendmsg([HEADER.pack(len(message)) + message],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("3i", 0, 1, 2))])
        reader = s.makefile("rb")
        line = reader.readline().split()
        if line[:1] == [b"pid"]:
            pid = int(line[1])
        s.settimeout(None)
    except (OSError, ValueError, IndexError):   # socket.timeout is an OSError
        pid = None
    if pid is None:   # no factory to serve it: the sandbox's usual launcher, as without one
        argv = [a.replace("{connection_file}", conn) for a in spec["fallback"]]
        os.execvp(argv[0], argv)
    import psutil

    record = adopted_dir() / str(os.getpid())
    try:
        record.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = record.with_suffix(".tmp")
        tmp.write_text(f"{pid} {psutil.Process(pid).create_time():.3f} {psutil.Process().create_time():.3f}")
        tmp.replace(record)
    except (OSError, psutil.Error):
        pass
    for sig in (signal.SIGTERM, signal.SIGHUP):   # closing the socket is what takes the kernel down
        signal.signal(sig, lambda *_: os._exit(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # interrupts go to the kernel as messages
    code = 1
    try:
        line = reader.readline().split()
        if line[:1] == [b"exit"]:
            code = int(line[1])
    except (OSError, ValueError, IndexError):
        pass
    finally:
        record.unlink(missing_ok=True)
    os._exit(code if 0 <= code < 256 else 1)


# -- the factory (root, in its bwrap view) ----------------------------------------------------------------------

def _serve(listen_fd: int, jobs_root: str) -> None:
    # die with bwrap, which dies with the grader (--die-with-parent): armed here, then bwrap checked to be
    # still the parent (bwrap killed while starting would leave the factory running on its own)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # root may write in its view's folders (dl4img's __pycache__ beside the kit), which its kernels would see
    sys.dont_write_bytecode = True
    try:
        parent = Path(f"/proc/{os.getppid()}/comm").read_text().strip()
    except OSError:
        parent = ""
    if parent != "bwrap":
        print(f"zygote: started by {parent or 'nothing'}, not bwrap; not serving", file=sys.stderr, flush=True)
        return
    global _IMPORTS_ENV
    start_env = dict(os.environ)
    import numpy  # noqa: F401  (its OpenBLAS starts its thread pool, which OpenBLAS itself makes safe to fork)

    base = len(os.listdir("/proc/self/task"))
    from autograder.engine.in_kernel import import_tensorflow

    import_tensorflow(leave_out=("sklearn", "keras"))
    import ipykernel.kernelapp  # noqa: F401  (what ipykernel_launcher imports: IPython, zmq, tornado)

    from autograder.engine import sandbox, twin  # noqa: F401  (imported before any view changes)

    threads = len(os.listdir("/proc/self/task"))
    if threads != base:   # a fork could leave another thread's lock held in the kernel: serve nothing
        print(f"zygote: {threads - base} threads started by the imports; not serving", file=sys.stderr, flush=True)
        return
    # what the imports set (TensorFlow's TF2_BEHAVIOR...) stays set in each kernel, as after its own import
    _IMPORTS_ENV = {k: v for k, v in os.environ.items() if start_env.get(k) != v}
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    listener = socket.socket(fileno=listen_fd)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        try:
            msg, fds = _receive(conn)
        except (OSError, ValueError, EOFError) as e:
            print(f"zygote: bad request: {e}", file=sys.stderr, flush=True)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                listener.close()
                code = _monitor(conn, msg, fds, jobs_root)
            except BaseException as e:   # noqa: BLE001  (the monitor must never return into the loop)
                print(f"zygote: monitor: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            os._exit(code)
        conn.close()
        for fd in fds:
            os.close(fd)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, ancdata, _, _ = conn.recvmsg(MAX_REQUEST, socket.CMSG_LEN(3 * 4))
    fds = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4]))
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack(data[:HEADER.size])[0]:
        if len(data) > MAX_REQUEST + HEADER.size:
            raise ValueError("request too large")
        more = conn.recv(MAX_REQUEST)
        if not more:
            raise EOFError("the client closed the socket")
        data += more
    if len(fds) != 3:
        raise ValueError(f"{len(fds)} descriptors instead of 3")
    return json.loads(data[HEADER.size:]), fds


def _monitor(conn: socket.socket, msg: dict, fds: list[int], jobs_root: str) -> int:
    """(Forked per kernel, root) make the kernel's namespaces and view, fork it, report, wait for it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        return 1
    work, runtime, uid = Path(msg["work"]), Path(msg["runtime"]), int(msg["uid"])
    job = work.parent
    if not Path(jobs_root) in job.parents or runtime.parent != job or uid == 0:
        raise ValueError("a job outside the factory's folder")
    twin_fds = []
    if msg["twin"]:   # opened before the view changes: the kernel's view does not hold them
        twin_fds = [os.open(job / "twin-in", os.O_RDWR), os.open(job / "twin-out", os.O_RDWR)]
    os.chown(msg["conn"], uid, uid)   # jupyter_client wrote it 0600 for the grader's user
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP),
           "unshare")
    _make_view(work, runtime, msg["data"], Path(jobs_root))
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        try:
            _kernel(msg, fds, twin_fds, ready_w)
        except BaseException as e:   # noqa: BLE001
            print(f"zygote: kernel: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        os._exit(1)
    os.close(ready_w)
    for fd in fds + twin_fds:
        os.close(fd)
    ok = os.read(ready_r, 1) == b"1"   # the kernel dropped its privileges (empty: it failed first)
    os.close(ready_r)
    if ok:
        conn.sendall(f"pid {pid}\n".encode())
    pidfd = os.pidfd_open(pid)
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(conn.fileno(), select.POLLIN | select.POLLHUP)
    while True:
        events = dict(poller.poll())
        if pidfd in events:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            try:
                conn.sendall(f"exit {code if code >= 0 else 128 - code}\n".encode())
            except OSError:
                pass
            return 0
        if conn.fileno() in events:   # the client is gone (killed, its worker gone): so is the kernel
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 0


def _submounts(folder: Path) -> list[Path]:
    """The mount points strictly inside ``folder``."""
    import re

    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]))
            if point != folder and point.is_relative_to(folder):
                points.append(point)
    return sorted(set(points))


def _make_view(work: Path, runtime: Path, data: dict, jobs_root: Path) -> None:
    """The kernel's view from the factory's: the same allow-list, but of the jobs only its own folders.

    What it keeps is cloned first (open_tree: a detached copy of a mount, no path needed), then the factory's
    /tmp, jobs' folder and data files are unmounted (not covered: nothing of them stays, not even in
    /proc/self/mountinfo), fresh ones mounted, and the clones attached where the kernel expects them. Nothing
    is written to the folders the factory's kernels share."""
    from autograder.engine.sandbox import allowed_paths

    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    covers = [Path("/tmp")] + ([jobs_root] if not jobs_root.is_relative_to("/tmp") else [])
    # what the kernels' allow-list mounts inside them stays (the kit or its Python environment may live in /tmp)
    allowed = {dst for dst, args in allowed_paths([], {}) if args[0] in ("--ro-bind", "--bind")}
    # (the outermost: a clone brings the mounts inside it along; a folder hidden above them is not kept)
    kept = {m for c in covers for m in _submounts(c) if m in allowed}
    kept = sorted(m for m in kept if not any(k != m and m.is_relative_to(k) for k in kept))
    places = [*kept, work, runtime, *map(Path, data)]
    clones = [_open_tree(p) for p in [*kept, work, runtime, *map(Path, data.values())]]
    for cover in covers:
        _check(_libc.umount2(str(cover).encode(), MNT_DETACH), f"umount {cover}")
    for m in _submounts(DATA):
        _check(_libc.umount2(str(m).encode(), MNT_DETACH), f"umount {m}")
    for cover in [*covers, DATA]:   # its own /tmp, as bwrap's --tmpfs /tmp (root's: read-only to the kernel)
        _mount("tmpfs", str(cover), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for place, clone in zip(places, clones):
        for parent in reversed([p for p in place.parents if p != Path("/")]):
            if not parent.exists():
                parent.mkdir(mode=0o755)
        if not place.exists():   # (the data placeholders exist: start_job made them in the work folder)
            place.mkdir(mode=0o755) if os.path.isdir(f"/proc/self/fd/{clone}") else place.touch()
        L = ctypes.c_long
        _check(_libc.syscall(L(MOVE_MOUNT), L(clone), b"", L(AT_FDCWD), str(place).encode(), L(MOVE_MOUNT_F_EMPTY_PATH)),
               f"move_mount {place}")
        os.close(clone)
    for dst in data:
        _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _open_tree(path: Path) -> int:
    L = ctypes.c_long
    fd = _libc.syscall(L(OPEN_TREE), L(AT_FDCWD), str(path).encode(), L(OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {path}: {os.strerror(err)}")
    return fd


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_privileges(uid: int, rlimits: dict) -> None:
    import resource

    for res, value in ((resource.RLIMIT_NPROC, rlimits["nproc"]), (resource.RLIMIT_NOFILE, rlimits["nofile"]),
                       (resource.RLIMIT_FSIZE, rlimits["fsize"]), (resource.RLIMIT_CPU, rlimits["cpu"]),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (int(value), int(value)))
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    _prctl(PR_SET_KEEPCAPS, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()   # no capability left, inheritable ones included
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)   # cleared by the change of user: armed again


def _kernel(msg: dict, fds: list[int], twin_fds: list[int], ready: int) -> None:
    """(PID 1 of the kernel's namespace) mount its /proc, drop everything, fork the kernel, become its waiter."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _check(_libc.umount2(b"/proc", MNT_DETACH), "umount /proc")   # the factory's (the grader's processes)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.setsid()
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
    keep = sorted({0, 1, 2, ready, *twin_fds})
    for low, high in zip(keep, keep[1:] + [65536]):
        os.closerange(low + 1, high)
    _drop_privileges(int(msg["uid"]), msg["rlimits"])
    # PID 1 is a small waiter, as bwrap's init: a kernel that is PID 1 never gets ipykernel's interrupt
    # (killpg of group 1 is kill(-1), which spares the caller) nor signals it has no handler for
    kernel = os.fork()
    if kernel != 0:
        os.close(ready)
        for fd in twin_fds:
            os.close(fd)
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", WAITER, str(kernel)])
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_DUMPABLE, 1)   # as after an exec: its own /proc files are its own
    os.chdir(msg["work"])
    env = {**{k: v for k, v in msg["env"].items() if k != "JPY_PARENT_PID"}, **_IMPORTS_ENV, "PWD": msg["work"]}
    os.environ.clear()
    os.environ.update(env)
    sys.path[0] = msg["work"]
    sys.dont_write_bytecode = False   # as a launched kernel (the factory's own modules are all imported)
    import tempfile

    tempfile.tempdir = None   # found (and kept) by the factory's imports, as root: the kernel's own is looked up
    sys.argv = ["ipykernel_launcher", "-f", msg["conn"]]
    os.write(ready, b"1")
    os.close(ready)
    from autograder.engine import twin

    if twin_fds:
        twin.fork_twin(*twin_fds)
    code = 0
    try:
        twin.become_kernel()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:   # noqa: BLE001
            pass
    os._exit(code)


def main(argv: list[str]) -> None:
    if argv[0] == "serve":
        _serve(int(argv[1]), argv[2])
    elif argv[0] == "connect":
        _client(Path(argv[1]), argv[argv.index("-f") + 1])


if __name__ == "__main__":
    main(sys.argv[1:])
