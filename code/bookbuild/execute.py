"""Execute the chapters whose execution key has no stored result, in parallel.

Only a chapter that ran to the end, every cell without an error, within its budget of
CPU time and with no cell's outputs over the cap, is stored
(``_build/executed/<key>.ipynb``). A failed chapter stores nothing, so it is executed,
and fails, again on every build until it is fixed: a reused ``_build`` can never turn a
red build green.

The budget counts the kernel's CPU time, not the wall clock, so a busy machine does not
fail a correct chapter, in *reference seconds*, so that it means the same work on a slow
machine as on a fast one (:mod:`bookbuild.budget`: each build that executes calibrates the
machine first); a hung cell is still stopped by the per-cell timeout, which is wall-clock
time. The store keeps each chapter's few most recent results, so undoing an
edit costs nothing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import nbformat
import psutil
from jupyter_client.provisioning import KernelProvisionerFactory
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config

from bookbuild import zygote
from bookbuild.book import BookConfig, first_source_line, read_notebook
from bookbuild.budget import Calibration, calibrate
from bookbuild.changes import user_cache
from bookbuild.keys import KERNEL_CONFIG, execution_key, kernel_environment
from bookbuild.processes import die_with_parent

# Terminal control sequences (colours, cursor moves, titles): reports and summaries are plain text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
RECENT_RESULTS = 3  # stored results kept per chapter: its current one and the two before
MANIFEST = "recent.json"


@dataclasses.dataclass(frozen=True)
class Job:
    chapter: Path
    key: str


@dataclasses.dataclass(frozen=True)
class ChapterResult:
    """What happened to one chapter in one build."""

    chapter: str
    key: str
    executed: bool
    seconds: float = 0.0  # wall-clock time
    cpu_seconds: float = 0.0  # the kernel's CPU time on this machine
    reference_seconds: float = 0.0  # the same on the reference machine: what the budget counts
    failure: str | None = None


def plan(config: BookConfig) -> list[Job]:
    """One job per chapter that has code cells, with its current execution key."""
    jobs = []
    for chapter in config.chapters:
        notebook = read_notebook(chapter.read_text())
        if any(cell.cell_type == "code" for cell in notebook.cells):
            jobs.append(Job(chapter, execution_key(notebook, config.tracked_packages, config.requirements,
                                                    config.blas_threads)))
    return jobs


def stored_path(config: BookConfig, key: str) -> Path:
    return config.store_dir / f"{key}.ipynb"


def execute_book(config: BookConfig, workers: int, calibration: Calibration | None = None) -> list[ChapterResult]:
    """Execute every chapter without a stored result; return one result per chapter.

    Chapters run ``workers`` at a time, longest first (by their last recorded time),
    each in its own kernel, forked from the worker's zygote (see :mod:`bookbuild.zygote`).
    Before the first, the machine is calibrated for the budget, unless ``calibration`` is
    given (the preview calibrates once per session).
    """
    jobs = plan(config)
    results = {job.chapter: ChapterResult(config.relative(job.chapter), job.key, executed=False)
               for job in jobs if stored_path(config, job.key).is_file()}
    pending = [job for job in jobs if job.chapter not in results]
    previous = _previous_seconds(config)
    pending.sort(key=lambda job: previous.get(config.relative(job.chapter), float("inf")), reverse=True)
    if pending:
        calibration = calibration or calibrate()
        print(f"budget: {config.chapter_budget:g} reference seconds of CPU time per chapter, "
              f"{calibration.cpu_seconds(config.chapter_budget):.1f} s on this machine "
              f"(calibrated: {calibration.scale:.2f} s here per reference second)", flush=True)
        config.store_dir.mkdir(parents=True, exist_ok=True)
        config.reports_dir.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(
            min(workers, len(pending)), mp_context=context, initializer=_start_worker,
            initargs=(os.getpid(), str(_ipython_dir(config)), config.blas_threads),
        )
        try:
            futures = {pool.submit(execute_chapter, job.chapter, job.key, config, calibration): job
                       for job in pending}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future].chapter] = future.result()
        except BaseException:
            # Interrupted: stop the workers now (their kernels and zygotes die with them).
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    ordered = [results[job.chapter] for job in jobs]
    _write_report(config, ordered)
    _remember(config, ordered)
    return ordered


def _ipython_dir(config: BookConfig) -> Path:
    """The kernels' IPython configuration: figures as SVG (the website) and PDF (the book)."""
    profile = config.build_dir / "ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
    return profile.parent


def _start_worker(build_pid: int, ipython_dir: str, blas_threads: int) -> None:
    """Pool initializer: die with the build, leave Ctrl-C to it, set up the kernels' zygote.

    The kernels' environment is set here, before the zygote imports anything (OpenBLAS
    reads its thread count once, when NumPy loads it): one BLAS and OpenMP thread for the
    build (chapters run side by side, and the order of a threaded sum would change the last
    digits of what they print from one machine to the next), ``blas_threads`` when the
    tests execute the book as a reader's machine would; a fixed hash seed, the IPython
    configuration of :func:`_ipython_dir`, and Hypothesis's folder (the constants it
    collects from the package) in the user's cache, not beside the chapters.
    """
    die_with_parent(build_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the build stops us; no traceback from here
    os.environ.update(kernel_environment(blas_threads), IPYTHONDIR=ipython_dir,
                      HYPOTHESIS_STORAGE_DIRECTORY=os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
                      or str(user_cache("hypothesis")))
    factory = KernelProvisionerFactory.instance()
    if zygote.PROVISIONER_NAME not in factory.get_provisioner_entries():
        print("bookbuild: the kernel zygote is not registered, so every kernel starts from scratch "
              "(slower); reinstall the package: pip install -e code", file=sys.stderr)
        return
    factory.default_provisioner_name = zygote.PROVISIONER_NAME
    zygote.Zygote.instance()  # starts importing now, while the pool hands out the first job


def kernel_cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a kernel process and of its children that have exited."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def execute_chapter(chapter: Path, key: str, config: BookConfig, calibration: Calibration) -> ChapterResult:
    """Run one chapter in a fresh kernel; store it only if every cell succeeded in budget."""
    relative = config.relative(chapter)
    text = chapter.read_text()
    notebook = read_notebook(text)
    running: list[int] = []
    cpu: list[float] = []

    def measure_cpu(**_) -> None:  # after each cell, while the kernel runs: the last one counts
        cpu.append(kernel_cpu_seconds(client.km.provisioner.pid))

    client = NotebookClient(
        notebook,
        timeout=config.cell_timeout,
        kernel_name=notebook.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(chapter.parent)}},
        on_cell_start=lambda cell, cell_index: running.append(cell_index),
        on_cell_executed=measure_cpu,
        shutdown_kernel="immediate",  # the outputs are in: no need to wait for a clean exit
        config=_ipc_transport(),
    )
    start = time.perf_counter()
    try:
        _execute(client)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        seconds = time.perf_counter() - start
        failure = _describe_failure(relative, text, notebook, running, error, config)
        (config.reports_dir / f"{chapter.stem}.log").write_text(
            ANSI_ESCAPE.sub("", failure + "\n\n" + str(error) + "\n" + traceback.format_exc())
        )
        return ChapterResult(relative, key, executed=True, seconds=seconds, failure=failure)
    seconds = time.perf_counter() - start
    cpu_seconds = cpu[-1] if cpu else 0.0
    reference_seconds = calibration.reference_seconds(cpu_seconds)
    result = functools.partial(ChapterResult, relative, key, executed=True, seconds=seconds,
                               cpu_seconds=cpu_seconds, reference_seconds=reference_seconds)
    if reference_seconds > config.chapter_budget:
        return result(failure=f"{relative}: used {reference_seconds:.1f} reference seconds of CPU time "
                              f"({cpu_seconds:.1f} s of CPU here, {seconds:.1f} s on the clock), over its budget of "
                              f"{config.chapter_budget:g} (bookbuild_chapter_budget in _config.yml; on this machine "
                              f"1 reference second is {calibration.scale:.2f} s of CPU)")
    oversized = _oversized_output(relative, text, notebook, config.output_cap_mb)
    if oversized:
        return result(failure=oversized)
    # What the execution status page shows of the run that produced the page.
    notebook.metadata["bookbuild"] = {
        "executed": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "reference_seconds": round(reference_seconds, 1), "key": key,
    }
    temporary = stored_path(config, key).with_suffix(".tmp")
    nbformat.write(notebook, temporary)
    temporary.replace(stored_path(config, key))
    return result()


def _oversized_output(relative: str, text: str, notebook, cap_mb: float) -> str | None:
    """The first cell whose outputs, as stored, take more than ``cap_mb`` megabytes."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        size = len(json.dumps(cell.outputs))
        if size > cap_mb * 1e6:
            where = _cell_place(relative, text, notebook, index)
            return (f"{where}: its outputs take {size / 1e6:.1f} MB, over the cap of {cap_mb:g} MB per cell "
                    "(bookbuild_output_cap_mb in _config.yml): print less, or save a file")
    return None


def _execute(client: NotebookClient) -> None:
    """``client.execute()``, with a kernel's death reported as such.

    When a kernel dies, nbclient's clean-up can fail an internal assertion of its own
    (``assert self.km is not None``) while handling the ``DeadKernelError``: the death is
    what happened, and the chapter's failure names it.
    """
    try:
        client.execute()
    except AssertionError as error:
        if isinstance(error.__context__, DeadKernelError):
            raise error.__context__ from None
        raise


def _ipc_transport() -> Config:
    """Kernel channels over Unix sockets with a path of their own, not localhost TCP.

    No ports to race for between parallel kernels, and no warning from every kernel that
    its TCP traffic is unencrypted. jupyter_client removes the socket files at shutdown.
    """
    sockets = Path(tempfile.gettempdir()) / f"bookbuild-kernel-{uuid.uuid4().hex[:12]}"
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets)}})


def _cell_place(relative: str, text: str, notebook, index: int, row: int | None = None) -> str:
    """``book/x.md:42: code cell 3 (`a statement`)``, 42 being the statement's line in the .md.

    ``row`` is the 1-based line within the cell (the failing statement); by default the cell's
    first line of code.
    """
    cell = notebook.cells[index]
    fence = notebook.metadata["source_map"][index]  # MyST-NB's source map: the cell's fence
    first = first_source_line(text.splitlines(), fence, cell.source)
    source = cell.source.splitlines()
    if row is None or not 1 <= row <= len(source):
        row = next((number for number, line in enumerate(source, 1) if line.strip()), 1)
    code_number = sum(1 for c in notebook.cells[: index + 1] if c.cell_type == "code")
    statement = source[row - 1].strip() if source else ""
    return f"{relative}:{first + row - 1}: code cell {code_number} (`{statement[:80]}`)"


def _failing_row(error: CellExecutionError, execution_count: int | None) -> int | None:
    """The line of the cell's statement that raised, from IPython's ``Cell In[n], line m``."""
    if execution_count is None:
        return None
    match = re.search(rf"Cell In\[{execution_count}\], line (\d+)", ANSI_ESCAPE.sub("", error.traceback))
    return int(match.group(1)) if match else None


def _describe_failure(relative: str, text: str, notebook, running: list[int], error: Exception,
                      config: BookConfig) -> str:
    """Where the chapter failed, down to the statement's line in the .md, and why."""
    index = running[-1] if running else 0
    if isinstance(error, CellTimeoutError):
        where = _cell_place(relative, text, notebook, index)
        return f"{where}: did not finish within {config.cell_timeout} s (execute.timeout in _config.yml)"
    if isinstance(error, DeadKernelError):
        return f"{_cell_place(relative, text, notebook, index)}: the kernel died ({error})"
    row = _failing_row(error, notebook.cells[index].get("execution_count"))
    return f"{_cell_place(relative, text, notebook, index, row)}: {error.ename}: {ANSI_ESCAPE.sub('', error.evalue)}"


def _report_path(config: BookConfig) -> Path:
    return config.reports_dir / "execution.json"


def _previous_seconds(config: BookConfig) -> dict[str, float]:
    """Each chapter's most recent execution time, from the last report."""
    try:
        report = json.loads(_report_path(config).read_text())
    except (OSError, ValueError):
        return {}
    return {entry["chapter"]: entry["last_seconds"] for entry in report}


def _write_report(config: BookConfig, results: list[ChapterResult]) -> None:
    """Save this build's results; a cached chapter keeps the time it took when it last ran."""
    config.reports_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_seconds(config)
    entries = []
    for result in results:
        entry = dataclasses.asdict(result)
        entry["last_seconds"] = result.seconds if result.executed else previous.get(result.chapter, 0.0)
        entries.append(entry)
    _report_path(config).write_text(json.dumps(entries, indent=1))


def _remember(config: BookConfig, results: list[ChapterResult]) -> None:
    """Keep each chapter's ``RECENT_RESULTS`` most recent stored results; drop the rest.

    ``_build/executed/recent.json`` lists each chapter's keys, the current one first. A key
    that comes back (an edit undone) is found in the store and not executed again.
    """
    manifest_path = config.store_dir / MANIFEST
    try:
        recent = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        recent = {}
    for result in results:
        keys = [result.key, *(key for key in recent.get(result.chapter, []) if key != result.key)]
        recent[result.chapter] = [key for key in keys if stored_path(config, key).is_file()][:RECENT_RESULTS]
    recent = {chapter: keys for chapter, keys in recent.items() if chapter in {r.chapter for r in results}}
    kept = {key for keys in recent.values() for key in keys}
    if config.store_dir.is_dir():
        for path in config.store_dir.glob("*.ipynb"):
            if path.stem not in kept:
                path.unlink()
        manifest_path.write_text(json.dumps(recent, indent=1))


def format_report(results: list[ChapterResult]) -> str:
    """A table of what each chapter cost in this build."""
    lines = [f"{'chapter':40} {'status':>10} {'seconds':>8} {'CPU s':>6} {'ref s':>6}"]
    for result in results:
        status = "FAILED" if result.failure else "executed" if result.executed else "cached"
        seconds = f"{result.seconds:8.1f}" if result.executed else f"{'-':>8}"
        measured = result.executed and result.cpu_seconds > 0
        cpu = f"{result.cpu_seconds:6.1f} {result.reference_seconds:6.1f}" if measured else f"{'-':>6} {'-':>6}"
        lines.append(f"{result.chapter:40} {status:>10} {seconds} {cpu}")
    executed = sum(result.executed for result in results)
    lines.append(f"{executed} of {len(results)} chapters executed")
    return "\n".join(lines)
