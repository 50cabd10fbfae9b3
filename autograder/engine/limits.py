"""Limits and the watchdog: CPU time, memory, disk and GPU memory of a process tree; the one tree killer.

The kernel, the re-trace and the check worker are all watched with these: resident memory of the whole tree
(plus memory files), CPU time from a start mark, disk written (plus unlinked files still open), and a wall-clock
backstop for a process that sleeps instead of computing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import psutil

DISK_MB = 2048            # what the notebook may write to its scratch folder

# glibc's defaults keep a heap arena per TensorFlow thread: two arenas. Its mapping threshold stays dynamic: a fixed
# 128 kB one (every block over it mapped and unmapped when freed) cut 03's kernel peak 1.32 -> 1.20 GB but made each
# training step fault its activations' pages in afresh: 04's training took 36.5 s of CPU instead of 24.6.
MALLOC_FLAGS = {"MALLOC_ARENA_MAX": "2"}

def disk_mb(*folders: Path) -> float:
    """Space the files under ``folders`` take (allocated blocks: a sparse file costs what it stores)."""
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_blocks * 512
                except OSError:
                    pass
    return total / 2**20


def unlinked_mb(procs) -> tuple[float, float]:
    """(disk MB, memory MB) held through open files no folder shows: unlinked files and memfds."""
    seen, disk, memory = set(), 0, 0
    for p in procs:
        fds = f"/proc/{p.pid}/fd"
        try:
            names = os.listdir(fds)
        except OSError:
            continue
        for name in names:
            link = f"{fds}/{name}"
            try:
                target = os.readlink(link)
                if not target.endswith("(deleted)"):
                    continue
                st = os.stat(link)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if target.startswith("/memfd:"):
                memory += st.st_blocks * 512
            else:
                disk += st.st_blocks * 512
    return disk / 2**20, memory / 2**20


def process_tree(proc: psutil.Process) -> list[psutil.Process]:
    """``proc`` and its descendants, with the kernel each kernel factory client stands for (engine/zygote.py)."""
    from autograder.engine.zygote import adopted

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []
    for p in list(procs):
        kernel = adopted(p.pid)
        if kernel is not None:   # once: the factory's own tree (a batch worker's child) may hold it already
            pids = {q.pid for q in procs}
            procs += [q for q in process_tree(kernel) if q.pid not in pids]
    return procs


def rss_mb(procs) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def kill_tree(procs) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


TWIN_PIDS = "twin.pid"   # in the job folder, written by the execution worker before the ready mark


def read_twins(job: Path) -> set[int]:
    try:
        return {int(x) for x in (job / TWIN_PIDS).read_text().split()}
    except (OSError, ValueError):
        return set()


def forked_twins(procs) -> set[int]:
    """The kernel's twin in a kernel's tree (engine/twin.py): a process forked by the kernel's start-up, with its
    command line. Asked before the student's code runs (which could fork the same way later), it is only that."""
    twins, pids = set(), {p.pid for p in procs}
    for p in procs:
        try:
            cmd, parent = p.cmdline(), p.parent()
            if (cmd[1:3] in (["-m", "autograder.engine.twin"], ["-m", "autograder.engine.zygote"])
                    and parent is not None and parent.pid in pids and parent.cmdline() == cmd):
                twins.add(p.pid)
        except psutil.Error:
            pass
    return twins


class CpuClock:
    """CPU time (user + system) of a process tree, counting processes that have since exited.

    ``ignore``: processes whose time is not the tree's (the kernel's twin, which has its own CPU limit)."""

    def __init__(self, ignore=()):
        self.seen: dict[int, float] = {}
        self.base: float | None = None     # None until started: nothing counts yet
        self.ignore = set(ignore)

    def start(self) -> None:
        self.base = self._sum()

    def _sum(self) -> float:
        return sum(t for pid, t in self.seen.items() if pid not in self.ignore)

    def update(self, procs) -> float:
        for p in procs:
            try:
                t = p.cpu_times()
                self.seen[p.pid] = max(self.seen.get(p.pid, 0.0), t.user + t.system)
            except psutil.Error:
                pass
        return self.total

    @property
    def total(self) -> float:
        return 0.0 if self.base is None else self._sum() - self.base


def gpu_memory_mb(pids, query=None) -> float:
    """GPU memory (MB) held by the processes ``pids``, from ``nvidia-smi`` (0 when there is no NVIDIA GPU)."""
    if query is None:
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return 0.0
        try:
            query = subprocess.run([smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                   capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return 0.0
    wanted, total = set(pids), 0.0
    for line in query.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) in wanted:
            try:
                total += float(parts[1])
            except ValueError:
                pass
    return total


def wall_backstop(cpu_limit_s: float) -> float:
    """Wall-clock limit beside a CPU-time limit: generous, as a busy host slows an honest notebook 2-5x,
    yet it stops code that waits without computing (sleep, blocking reads)."""
    return 3 * cpu_limit_s + 15



class Watchdog:
    """Watch a process tree until it exits or crosses a limit (then kill it): CPU time from the ``ready`` mark,
    a wall-clock backstop, resident memory (memory files included), GPU memory, disk under ``folders``."""

    def __init__(self, timeout_s: float, memory_mb: float, disk_mb: float, folders=(), ready: Path | None = None,
                 on_gpu: bool = False, what: str = "the notebook"):
        self.timeout_s, self.memory_mb, self.disk_limit_mb = timeout_s, memory_mb, disk_mb
        self.folders, self.ready, self.on_gpu, self.what = tuple(folders), ready, on_gpu, what
        self.cpu = CpuClock()
        self.peak = 0.0   # MB, the tree's resident memory at its highest
        self.load = 0.0   # the host's 1-minute load average at its highest

    def watch(self, proc: subprocess.Popen) -> tuple[str, str]:
        """("ok", "") when ``proc`` exited by itself, else (status, reason) of the limit it crossed."""
        watched = psutil.Process(proc.pid)
        start, ticks, wall_limit, what = time.monotonic(), 0, wall_backstop(self.timeout_s), self.what
        disk = unlinked_disk = in_memory_files = gpu_mb = 0.0
        if self.ready is None:
            self.cpu.start()
        procs = []
        while proc.poll() is None:
            if ticks % 5 == 0:   # finding new processes reads every process of the host: 4 times a second
                procs = process_tree(watched)
            ticks += 1
            if ticks % 5 == 0:  # files: the watched folders, and open files unlinked from them
                unlinked_disk, in_memory_files = unlinked_mb(procs)
                disk = disk_mb(*self.folders) + unlinked_disk
            rss = rss_mb(procs) + in_memory_files
            self.peak = max(self.peak, rss)
            used = self.cpu.update(procs)
            if self.cpu.base is None and self.ready is not None and self.ready.exists():
                self.cpu.ignore |= read_twins(self.ready.parent)
                self.cpu.start()
                used = self.cpu.total
            if ticks % 20 == 0:
                self.load = max(self.load, os.getloadavg()[0])
                if self.on_gpu:
                    gpu_mb = gpu_memory_mb([p.pid for p in procs])
            status, reason = "ok", ""
            if used > self.timeout_s:
                status, reason = "timeout", f"{what} used more than {self.timeout_s:.0f} s of CPU time and was stopped"
            elif time.monotonic() - start > wall_limit:
                status, reason = "timeout", (f"{what} ran longer than {wall_limit:.0f} s (wall clock) and was "
                                             f"stopped after {used:.0f} s of CPU time")
            elif gpu_mb > self.memory_mb:
                status, reason = "memory", f"{what} used more than {self.memory_mb:.0f} MB of GPU memory and was stopped"
            elif rss > self.memory_mb:
                status, reason = "memory", f"{what} used more than {self.memory_mb:.0f} MB of memory and was stopped"
                if in_memory_files:
                    reason += f" ({in_memory_files:.0f} MB of it in memory files)"
            elif disk > self.disk_limit_mb:
                status, reason = "error", f"{what} wrote more than {self.disk_limit_mb:.0f} MB to disk and was stopped"
                if unlinked_disk:
                    reason += f" ({unlinked_disk:.0f} MB of it in deleted files it kept open)"
            if status != "ok":
                kill_tree(process_tree(watched) or procs)
                return status, reason
            time.sleep(0.05)
        return "ok", ""
