"""A kernel whose TensorFlow import also serves the clean re-trace: its twin, forked before any student code.

The clean re-trace (``retrace.py``) needs a Python process that imported TensorFlow and that the student's kernel
never touched; a fresh one costs 3 s of CPU per submission, mostly that import. A sandboxed kernel of a practical
with a re-trace starts here instead of ``ipykernel_launcher``: this process imports TensorFlow as the preamble
would, forks the twin, then becomes the kernel (``ipykernel_launcher``, with TensorFlow already imported). The
twin is the kernel's state before anything of the submission ran, which is all the re-trace asks for:

- it makes itself non-dumpable before the kernel goes on, so the kernel (same user, no capabilities) cannot
  ptrace it or open its ``/proc`` memory and file descriptors;
- it talks to the grader over two pipes the sandbox's launcher opened outside the sandbox's view (the job
  folder's ``twin-in`` and ``twin-out``); the kernel closes its copies before it starts, so nothing the student
  runs can reach them; the spec (and its nonce) arrives only through them;
- it reads no file the kernel can write: the kernel's folders (``''``, work, ``/tmp``) leave its import path and
  AutoGraph compiles its generated code in memory instead of through a temporary file;
- it runs under its own CPU limit; a twin that dies or does not answer (the kernel may kill it) only costs
  time: the grader then re-traces in a fresh process, as without a twin.

Run as ``python -m autograder.engine.twin -f CONNECTION_FILE`` with ``AG_TWIN_FDS=IN,OUT`` in the environment.
"""

from __future__ import annotations

import os
import struct
import sys

ENV = "AG_TWIN_FDS"
HEADER = struct.Struct("!Q")   # every message: its length, then its bytes


def read_message(fd: int, limit: int) -> bytes:
    head = _read_exact(fd, HEADER.size)
    (size,) = HEADER.unpack(head)
    if size > limit:
        raise ValueError(f"message of {size} bytes")
    return _read_exact(fd, size)


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_message(fd: int, data: bytes) -> None:
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _shared_writable_mappings() -> list[str]:
    """Writable shared memory in this process: the kernel could change it under the twin after the fork."""
    try:
        with open("/proc/self/maps") as f:
            return [line.strip() for line in f if line.split()[1][1] == "w" and line.split()[1][3] == "s"]
    except OSError as e:
        return [f"unreadable: {e}"]


def _non_dumpable() -> None:
    import ctypes

    PR_SET_DUMPABLE = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _in_memory_autograph() -> None:
    """AutoGraph writes each converted function to a temporary file and imports it: in ``/tmp``, which the kernel
    shares and could rewrite in between. Compile the source in memory instead (the same module, the same name)."""
    import itertools
    import linecache
    import types

    from tensorflow.python.autograph.pyct import loader

    counter = itertools.count()

    def load_source(source, delete_on_exit):
        name = f"__autograph_generated_file{next(counter)}"
        filename = f"<{name}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = types.ModuleType(name)
        module.__file__ = filename
        exec(compile(source, filename, "exec"), module.__dict__)
        sys.modules[name] = module
        return module, filename

    loader.load_source = load_source


def _private_import_path() -> None:
    """Only read-only folders on the import path: the kernel can write its work folder and /tmp."""
    keep = []
    for entry in sys.path:
        path = os.path.abspath(entry or os.getcwd())
        if os.path.exists(path) and os.access(path, os.W_OK):
            continue
        if path == "/tmp" or path.startswith(("/tmp/", "/dev/shm")):
            continue
        keep.append(entry)
    sys.path[:] = keep
    sys.path_importer_cache.clear()


def _twin(fd_in: int, fd_out: int, ready: int) -> None:
    """(The forked child) become the clean re-trace process: wait for the grader's spec, trace, answer."""
    try:
        _non_dumpable()
        os.write(ready, b"1")
    finally:
        os.close(ready)
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)   # the kernel's interrupts are not for it
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)   # what student code prints goes nowhere (it printed in the kernel already)
    low, high = sorted((fd_in, fd_out))
    os.closerange(3, low)   # nothing else shared with the kernel (its standard streams, the ready pipe...)
    os.closerange(low + 1, high)
    os.closerange(high + 1, 65536)
    os.chdir("/")
    _private_import_path()
    _in_memory_autograph()
    from autograder.engine import retrace

    try:
        retrace.serve_twin(fd_in, fd_out)
    finally:
        os._exit(0)


def fork_twin(fd_in: int, fd_out: int) -> None:
    """(The kernel-to-be, TensorFlow imported) fork the twin, then close the pipes: the kernel keeps neither."""
    if not _shared_writable_mappings():
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            _twin(fd_in, fd_out, ready_w)
        os.close(ready_w)
        os.read(ready_r, 1)   # the twin is non-dumpable before the kernel goes on (empty: it failed)
        os.close(ready_r)
    for fd in (fd_in, fd_out):
        os.close(fd)   # no twin (shared memory): the grader sees no answer and re-traces in a fresh process


def become_kernel() -> None:
    """Run ``ipykernel_launcher`` in this process, which imported nothing of the submission."""
    for name in [m for m in sys.modules if m == "autograder" or m.startswith("autograder.")]:
        del sys.modules[name]   # the kernel imports nothing of the kit
    if sys.modules.get("rfc3987_syntax", 0) is None:
        del sys.modules["rfc3987_syntax"]   # left out by the kit's package, not by the student's kernel
    import runpy

    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def main() -> None:
    fds = os.environ.pop(ENV, "")
    if fds:
        fd_in, fd_out = map(int, fds.split(","))
        from autograder.engine.in_kernel import import_tensorflow

        # as the preamble of a notebook without Keras does (02's): it finds TensorFlow imported; one that uses
        # Keras loads it there, and `tf.keras` in the twin's trace too
        import_tensorflow(leave_out=("sklearn", "keras"))
        fork_twin(fd_in, fd_out)
    become_kernel()


if __name__ == "__main__":
    main()
