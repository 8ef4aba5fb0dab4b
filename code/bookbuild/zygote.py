"""Start kernels by forking a warm process instead of starting Python afresh.

A chapter's kernel spends most of its start-up importing: Python, IPython and
ipykernel, then NumPy, PyTorch and Matplotlib in the chapter's first cells (about
1.5 s on the 2-core CI machines, paid by every chapter). A *zygote* is a process that has
imported all of that once and then does nothing but fork: each child becomes a
kernel (``python -m ipykernel_launcher -f <connection file>``) with those modules
already loaded, in milliseconds.

It is safe because the zygote only imports: it never runs a PyTorch or NumPy
computation, so no thread pool exists to be lost in the fork, and it sets the
execution environment (the BLAS/OpenMP threads, one for the build, and a fixed hash
seed) before the imports, exactly as the kernel's own environment would. The child starts a new
session, like a kernel launched by jupyter_client, so signals (interrupt, kill)
reach it and its subprocesses alike.

:class:`ZygoteProvisioner` is the jupyter_client side: a ``LocalProvisioner``
whose ``launch_kernel`` asks this process's zygote for a kernel and falls back to
an ordinary launch when the zygote cannot serve it (another kernel command, or a
zygote that failed to start).

Protocol, one JSON line each way over the zygote's stdin and stdout:
``{"argv": [...], "cwd": "...", "env": {...}}`` in, ``{"pid": 1234}`` out. The
zygote exits when its stdin closes, that is when the process that started it
exits; if that process is killed, the OS kills the zygote, and each kernel dies
with its zygote the same way (see :mod:`bookbuild.processes`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner

from bookbuild.processes import die_with_parent

PROVISIONER_NAME = "bookbuild-zygote"  # the entry point in code/pyproject.toml
KERNEL_MODULE = "ipykernel_launcher"
PRELOADED_MODULES = ("ipykernel.kernelapp", "numpy", "torch", "matplotlib.pyplot")
# What ipykernel sets when it starts, unless set already. Matplotlib reads it when it is
# imported, so it must be set before: importing pyplot does not load the backend yet.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def serve(parent: int) -> None:
    """The zygote: import, then fork one kernel per request until stdin closes."""
    die_with_parent(parent)
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for module in PRELOADED_MODULES:
        __import__(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the OS reaps exited kernels at once: no zombies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the build, not for us
    replies = sys.stdout
    print(json.dumps({"ready": True}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        started_r, started_w = os.pipe()
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(started_r)
            die_with_parent(zygote)
            _become_kernel(request, started_w)  # never returns
        os.close(started_w)
        os.read(started_r, 1)  # the child is in its own session: signals to its group work
        os.close(started_r)
        print(json.dumps({"pid": pid}), file=replies, flush=True)


def _become_kernel(request: dict, started_w: int) -> None:
    """In the forked child: set up a kernel's process state, then run ipykernel."""
    status = 1
    try:
        os.setsid()
        os.write(started_w, b"1")
        os.close(started_w)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)  # our stdout carries replies to the build: the kernel's goes to stderr
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # As `python -m ipykernel_launcher` would have them. The kernel's parent is
        # the zygote: ipykernel read JPY_PARENT_PID when the zygote imported it, so
        # it is told again, and it exits if the zygote does.
        sys.argv = [KERNEL_MODULE, *request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 (the child must never return into the zygote's loop)
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


class Zygote:
    """This process's handle on its zygote, started on first use."""

    _instance: Zygote | None = None

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            # -P: the build's folder is not put on sys.path; the kernel puts its own
            # working folder there, as a kernel started afresh does.
            [sys.executable, "-P", "-m", "bookbuild.zygote", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._ready = False

    @classmethod
    def instance(cls) -> Zygote:
        if cls._instance is None or cls._instance.process.poll() is not None:
            cls._instance = cls()
        return cls._instance

    def can_launch(self, argv: list[str]) -> bool:
        """Whether ``argv`` is ``<this Python> -m ipykernel_launcher ...``, what we fork."""
        return (
            len(argv) > 2
            and Path(argv[0]).resolve() == Path(sys.executable).resolve()
            and argv[1:3] == ["-m", KERNEL_MODULE]
        )

    def fork_kernel(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        """Fork a kernel running ``argv`` (after ``-m ipykernel_launcher``); return its pid."""
        if not self._ready:
            self._ready = json.loads(self._reply())["ready"]
        request = {"argv": argv[3:], "cwd": cwd, "env": env}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self._reply())["pid"]

    def _reply(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the kernel zygote exited (status {self.process.wait()})")
        return line


class ForkedKernel:
    """What jupyter_client's ``LocalProvisioner`` needs of a ``Popen``, for a forked kernel.

    The kernel is the zygote's child, not ours: we can signal it but not wait for it,
    so it is alive as long as its pid exists (the zygote reaps it at once when it
    exits), and its exit status is not known (reported as 0).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ZygoteProvisioner(LocalProvisioner):
    """A ``LocalProvisioner`` that forks Python kernels from this process's zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        cwd = str(kwargs.get("cwd") or Path.cwd())
        env = dict(kwargs.get("env") or os.environ)
        try:
            zygote = Zygote.instance()
            pid = zygote.fork_kernel(cmd, cwd, env) if zygote.can_launch(cmd) else None
        except (OSError, RuntimeError, ValueError) as error:
            self.log.warning("no kernel zygote (%s): starting the kernel the ordinary way", error)
            pid = None
        if pid is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedKernel(pid)
        self.pid = self.pgid = pid
        self.cwd = cwd
        return self.connection_info


if __name__ == "__main__":
    serve(int(sys.argv[1]))
