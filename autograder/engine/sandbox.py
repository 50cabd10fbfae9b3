"""Isolation of the student's kernel on Linux: bubblewrap namespaces, an unprivileged user, resource limits.

The kernel sees an allow-list, not a filtered copy of the machine: system folders and the Python environment
read-only, the kit's package without its checks, the data it needs read-only (the test split never), and its
own scratch and runtime folders writable. Courses, answer keys, gradebooks and other submissions do not exist
there, wherever they live. It has no network (own network namespace), its own PID namespace, dies with its
parent, runs as ``nobody`` when the grader is root, and has rlimits on processes, open files, file size, CPU
time and core dumps. Where bubblewrap is missing (macOS, Windows, minimal containers) the kernel runs
unsandboxed and a warning says so once.

Run as ``python -m autograder.engine.sandbox LIMITS -- CMD...``: the launcher sets the rlimits, hands the
connection file to the kernel's user, then execs CMD (bwrap [setpriv] python -m ipykernel_launcher -f FILE).
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder.datasets import HIDDEN_FROM_KERNEL

NOBODY = 65534
UID_BASE = 2_100_000   # kernels' own user ids: far above system and login users, unnamed
UID_SLOTS = 4096
# System folders the kernel needs: a hidden folder that holds one of them is not hidden.
# The files of a practical's folder a kernel or a re-trace may read (never checks.py, mutants.py, __pycache__).
KERNEL_VISIBLE = ("*/__init__.py", "*/practical.toml", "*/in_kernel.py", "*/retrace.py")
PROTECTED = tuple(map(Path, ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/var/lib", "/proc", "/dev", "/sys")))


@dataclass(frozen=True)
class Limits:
    nproc: int = 1024 + 16 * (os.cpu_count() or 2)  # TensorFlow's thread pools count as processes
    nofile: int = 4096
    fsize_mb: int = 1024
    cpu_s: int = 3600
    uid: int = NOBODY   # the kernel's user (a root grader gives each kernel its own: see claim_user)
    twin: str = ""      # a job folder whose pipes twin-in and twin-out the kernel's twin gets (engine/twin.py)

    def argv(self) -> list[str]:
        return [f"--nproc={self.nproc}", f"--nofile={self.nofile}", f"--fsize-mb={self.fsize_mb}",
                f"--cpu-s={self.cpu_s}", f"--uid={self.uid}"] + ([f"--twin={self.twin}"] if self.twin else [])


class KernelUser:
    """A user id held by one kernel for its lifetime (a lock file in the grader's temporary folder).

    RLIMIT_NPROC counts the processes and threads of a user: with a user id of its own, a kernel that exhausts
    its process limit cannot starve the kernels graded beside it. Only a root grader can switch users; an
    unprivileged grader's kernels share its user id (and so one process limit).
    """

    def __init__(self, uid: int, fd: int | None = None):
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def claim_user() -> KernelUser:
    """A user id no other running kernel holds (root graders); the grader's own otherwise."""
    import fcntl
    import random
    import tempfile

    if os.geteuid() != 0:
        return KernelUser(os.getuid())
    locks = Path(tempfile.gettempdir()) / "autograder-uids"
    locks.mkdir(mode=0o700, exist_ok=True)
    start = random.randrange(UID_SLOTS)  # spread over the range: a just-released id is rarely reused at once
    for i in range(UID_SLOTS):
        slot = (start + i) % UID_SLOTS
        fd = os.open(locks / str(slot), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return KernelUser(UID_BASE + slot, fd)
    raise RuntimeError(f"all {UID_SLOTS} kernel user ids are in use")


def available() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"no sandbox on {sys.platform}: student code runs with the grader's permissions"
    if os.environ.get("AUTOGRADER_NO_SANDBOX"):
        return False, "sandbox disabled by AUTOGRADER_NO_SANDBOX"
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed: student code runs with the grader's permissions"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return False, "setpriv is missing: cannot drop to an unprivileged user"
    return _isolates(shutil.which("bwrap"), os.geteuid() == 0)


# the namespaces and mounts every sandboxed process gets (kernel_command, and _isolates' trial)
NAMESPACES = ["--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid", "--unshare-ipc",
              "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session"]


def _drop(uid: int) -> list[str]:
    """A root grader mounts as root, then the kernel drops to its own user inside the sandbox: no capabilities,
    no setuid escalation, and the process limit applies (root is exempt from RLIMIT_NPROC)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs"]


@functools.lru_cache(maxsize=None)
def _isolates(bwrap: str, root: bool) -> tuple[bool, str]:
    """Whether ``bwrap`` can make a kernel's namespaces here, tried once: an installed bubblewrap is not enough
    where a container forbids them (Docker's default profile, some CI and autograding hosts), and every kernel
    would then fail to start."""
    import subprocess

    cmd = [bwrap, *([] if root else ["--unshare-user"]), *NAMESPACES, "--ro-bind", "/", "/",
           *(_drop(NOBODY) if root else []), "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        said = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:300]
    except (OSError, subprocess.TimeoutExpired) as e:
        proc, said = None, f"{type(e).__name__}: {e}"[:300]
    if proc is not None and proc.returncode == 0:
        return True, ""
    return False, (f"bubblewrap cannot isolate a process on this host ({said}): student code runs with the "
                   "grader's permissions")


_warned = False


def warn_unavailable(reason: str) -> None:
    global _warned
    if not _warned:
        warnings.warn(f"autograder: {reason}. See docs/threat-model.md.", RuntimeWarning, stacklevel=3)
        print(f"WARNING: {reason}", file=sys.stderr)
        _warned = True


def outermost(paths) -> frozenset[Path]:
    """The folders of ``paths`` inside none of the others: hiding them hides all of ``paths``. Warm kernels and
    factories are keyed on them: the students of one class folder each hide their own folders, the same view."""
    resolved = {Path(p).resolve() for p in paths}
    return frozenset(p for p in resolved if not any(p != q and p.is_relative_to(q) for q in resolved))


def _is_within(path: Path, other: Path) -> bool:
    try:
        path.relative_to(other)
        return True
    except ValueError:
        return False


SYSTEM = ("/usr", "/etc", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/sys")  # read-only, for libraries and config


def allowed_paths(writable: list[Path], data_binds: dict[Path, Path]) -> list[tuple[Path, list[str]]]:
    """The kernel's whole view of the file system (an allow-list): mount operations, parents first.

    System folders and the Python environment read-only, the kit's own package without its checks, the data
    it needs read-only, its scratch and runtime folders writable; everything else (courses, submissions,
    gradebooks, answer keys, wherever they live) does not exist there.
    """
    kit = Path(__file__).resolve().parent.parent   # the autograder package
    python = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent)}
    python |= {Path(p).resolve() for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    python.add(kit)
    python.add(kit.parent / "dl4img.py")  # the kit's copy of the notebooks' helper module (outside the package)
    ops: list[tuple[Path, list[str]]] = []
    for top in map(Path, SYSTEM):
        if top.is_symlink():   # /lib -> usr/lib on merged-/usr systems
            ops.append((top, ["--symlink", os.readlink(top), str(top)]))
        elif top.is_dir():
            ops.append((top, ["--ro-bind", str(top), str(top)]))
    for p in sorted(python):
        if p.exists() and not any(p != q and _is_within(p, q) for q in python | set(map(Path, SYSTEM))):
            ops.append((p, ["--ro-bind", str(p), str(p)]))
    # practicals: only what runs in a kernel or a re-trace; checks (hidden ones, reference values) stay out
    practicals = kit / "practicals"
    ops.append((practicals, ["--perms", "0755", "--tmpfs", str(practicals)]))
    for folder in sorted(d for d in practicals.iterdir() if (d / "practical.toml").is_file()):
        ops.append((folder, ["--perms", "0755", "--dir", str(folder)]))
    for f in [practicals / "__init__.py", *(f for pattern in KERNEL_VISIBLE for f in practicals.glob(pattern))]:
        ops.append((f, ["--ro-bind", str(f), str(f)]))
    for hidden in map(Path, HIDDEN_FROM_KERNEL):  # the test split the grader scores with
        if hidden.exists():
            ops.append((hidden, ["--tmpfs", str(hidden)]))
    if Path("/tmp") not in writable:
        ops.append((Path("/tmp"), ["--tmpfs", "/tmp"]))
    ops += [(w, ["--bind", str(w), str(w)]) for w in writable]
    for dst, src in data_binds.items():
        ops.append((dst, ["--ro-bind", str(src), str(dst)]))
    # the folders leading to each mount are created by bwrap: make them traversable by the kernel's user
    mounts = {dst for dst, _ in ops}
    binds = {dst for dst, args in ops if "--tmpfs" not in args and "--dir" not in args}
    parents = {parent for dst in mounts for parent in dst.parents if parent != Path("/") and parent not in mounts
               and not any(_is_within(parent, b) for b in binds)}
    ops += [(parent, ["--perms", "0755", "--dir", str(parent)]) for parent in parents]
    ops.sort(key=lambda op: len(op[0].parts))  # parents before children
    return ops


def kernel_command(kernel: list[str], *, work: Path, runtime: Path, hide: list[Path] = (),
                   data_binds: dict[Path, Path], limits: Limits, device: str = "cpu") -> list[str]:
    """The launcher + bwrap command that runs ``kernel`` (its argv) isolated.

    ``hide``: folders that must stay invisible even if they lie inside an allowed folder (e.g. a course kept
    inside the Python environment); anything outside the allow-list is invisible anyway.
    """
    bwrap = bwrap_command([work, runtime], hide=hide, data_binds=data_binds, device=device, chdir=work)
    drop = _drop(limits.uid) if os.geteuid() == 0 else []
    return [sys.executable, "-m", "autograder.engine.sandbox", *limits.argv(), "--", *bwrap, *drop, *kernel]


def bwrap_command(writable: list[Path], *, hide=(), data_binds: dict[Path, Path], device: str, chdir: Path,
                  own_pids: bool = True) -> list[str]:
    """bwrap and its options: the allow-list view with ``writable`` folders, in new namespaces.

    ``own_pids``: a PID namespace of its own (a kernel); the kernel factory (zygote.py) keeps the grader's, so
    that the process ids it reports are the grader's, and gives each kernel its own."""
    ops = allowed_paths(list(writable), data_binds)
    allowed = [dst for dst, args in ops if args[0] in ("--ro-bind", "--bind")]
    for h in {Path(p).resolve() for p in hide}:
        inside = [a for a in allowed if _is_within(h, a) and h != a]
        if inside and not any(_is_within(a, h) for a in writable):
            ops.append((h, ["--tmpfs", str(h)]))
    ops.sort(key=lambda op: len(op[0].parts))
    root = os.geteuid() == 0
    namespaces = NAMESPACES if own_pids else [n for n in NAMESPACES if n != "--unshare-pid"]
    bwrap = ["bwrap", *namespaces, "--chdir", str(chdir),
             # in its own PID namespace the kernel's parent is PID 1: its parent poller would shut it down
             "--unsetenv", "JPY_PARENT_PID"]
    if not root:
        bwrap.insert(1, "--unshare-user")
    if device != "cpu":  # the GPU's device nodes
        for node in sorted(Path("/dev").glob("nvidia*")) + sorted(Path("/dev/dri").glob("*")):
            bwrap += ["--dev-bind", str(node), str(node)]  # an unprivileged grader makes its namespaces through a user namespace
    for _, args in ops:
        bwrap += args
    return bwrap


def prepare(job: Path, *writable: Path, uid: int = NOBODY) -> None:
    """Let the kernel's user traverse the job folder and write its scratch and runtime folders."""
    os.chmod(job, 0o711)
    if os.geteuid() != 0:
        return
    for top in writable:
        for root, dirs, files in os.walk(top):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                if not os.path.islink(name):
                    os.chown(name, uid, uid)


PARENT = "AUTOGRADER_LAUNCHER_PARENT"   # the execution worker's pid, which it puts in its own environment


def die_with_parent() -> None:
    """Die with the execution worker that started this launcher. bwrap's --die-with-parent takes hold only once
    bwrap runs: a worker killed before that (a batch killed while a kernel starts) would leave the kernel
    running with no parent. The signal is armed here (it survives exec), then the parent checked."""
    import ctypes
    import signal

    expected = os.environ.pop(PARENT, "")
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    if expected and os.getppid() != int(expected):
        os._exit(1)


def _launch(argv: list[str]) -> None:
    import resource

    die_with_parent()

    limits, cmd = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    values = dict(a.lstrip("-").split("=", 1) for a in limits)
    mb = 2**20
    for res, value in ((resource.RLIMIT_NPROC, int(values["nproc"])), (resource.RLIMIT_NOFILE, int(values["nofile"])),
                       (resource.RLIMIT_FSIZE, int(values["fsize-mb"]) * mb), (resource.RLIMIT_CPU, int(values["cpu-s"])),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))
    conn = cmd[len(cmd) - 1 - cmd[::-1].index("-f") + 1]
    if os.geteuid() == 0:
        uid = int(values.get("uid", NOBODY))
        os.chown(conn, uid, uid)  # jupyter_client writes it 0600 for the grader's user
    if values.get("twin"):   # opened here, outside the sandbox's view; read and write so that opening never blocks
        from autograder.engine.twin import ENV

        out = os.open(Path(values["twin"]) / "twin-out", os.O_RDWR)   # first: the grader opens it once twin-in is
        inp = os.open(Path(values["twin"]) / "twin-in", os.O_RDWR)    # held, and must not find it without a writer
        for fd in (inp, out):
            os.set_inheritable(fd, True)
        os.environ[ENV] = f"{inp},{out}"
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    _launch(sys.argv[1:])
