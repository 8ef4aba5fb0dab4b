"""Processes that end with the build, and one build at a time per checkout.

A build starts a tree of processes: pool workers, one kernel zygote per worker, one kernel
per chapter, Sphinx, latexmk. Killed with SIGKILL (a CI timeout, the OOM killer, a closed
terminal), the build itself gets no chance to stop them, so each child asks the kernel to
kill it when its parent dies (Linux's ``PR_SET_PDEATHSIG``), and checks that its parent is
still the one that started it, in case it died during the start.

Two builds in one checkout would execute the same chapters twice and write the same files:
:func:`build_lock` lets one build run and tells the other what it is waiting for.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int | None = None, signum: int = signal.SIGKILL) -> None:
    """Have the OS send ``signum`` to this process when its parent exits (Linux only).

    ``expected_parent`` is the parent's pid as the parent knew it: if the parent died before
    this call, the process has been re-parented and exits at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def run_child(command: list[str], on_line: Callable[[str], None] | None = None, **kwargs) -> int:
    """Run a command to its end (Sphinx, latexmk) and return its exit status.

    It runs in a session of its own, so a Ctrl-C in the terminal reaches only the build,
    which then kills the command's whole process group (latexmk's pdflatex with it); if the
    build is killed outright, the command is killed with it. With ``on_line``, each line the
    command prints (its output and its errors, in order) is handed to it, as it comes.
    """
    parent = os.getpid()
    if on_line is not None:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    process = subprocess.Popen(command, start_new_session=True,
                               preexec_fn=lambda: die_with_parent(parent, signal.SIGTERM), **kwargs)
    try:
        if on_line is not None:
            with process.stdout:
                for line in process.stdout:
                    on_line(line)
        return process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


@contextlib.contextmanager
def build_lock(build_dir: Path, what: str) -> Iterator[None]:
    """Hold ``_build/.lock`` for the duration of a build; wait, saying so, if another holds it.

    The lock is ``flock``'s, so the OS releases it when its holder dies, however it dies.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / ".lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another build"
            print(f"bookbuild: waiting for {holder} to finish with {build_dir} ...", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"`{what}` (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
