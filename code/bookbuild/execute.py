"""Execute the chapters whose execution key has no stored result, in parallel.

Only a chapter that ran to the end, every cell without an error and within its time
budget, is stored (``_build/executed/<key>.ipynb``). A failed chapter stores nothing,
so it is executed, and fails, again on every build until it is fixed: a reused
``_build`` can never turn a red build green.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import nbformat
from jupyter_client.provisioning import KernelProvisionerFactory
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config

from bookbuild import zygote
from bookbuild.book import BookConfig, read_notebook
from bookbuild.keys import execution_key

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


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
    seconds: float = 0.0
    failure: str | None = None


def plan(config: BookConfig) -> list[Job]:
    """One job per chapter that has code cells, with its current execution key."""
    jobs = []
    for chapter in config.chapters:
        notebook = read_notebook(chapter.read_text())
        if any(cell.cell_type == "code" for cell in notebook.cells):
            jobs.append(Job(chapter, execution_key(notebook, config.tracked_packages, config.requirements)))
    return jobs


def stored_path(config: BookConfig, key: str) -> Path:
    return config.store_dir / f"{key}.ipynb"


def execute_book(config: BookConfig, workers: int) -> list[ChapterResult]:
    """Execute every chapter without a stored result; return one result per chapter.

    Chapters run ``workers`` at a time, longest first (by their last recorded time),
    each in its own kernel, forked from the worker's zygote (see :mod:`bookbuild.zygote`).
    """
    jobs = plan(config)
    results = {job.chapter: ChapterResult(config.relative(job.chapter), job.key, executed=False)
               for job in jobs if stored_path(config, job.key).is_file()}
    pending = [job for job in jobs if job.chapter not in results]
    previous = _previous_seconds(config)
    pending.sort(key=lambda job: previous.get(config.relative(job.chapter), float("inf")), reverse=True)
    if pending:
        config.store_dir.mkdir(parents=True, exist_ok=True)
        config.reports_dir.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            min(workers, len(pending)), mp_context=context, initializer=_start_worker, initargs=(workers > 1,)
        ) as pool:
            futures = {pool.submit(execute_chapter, job.chapter, job.key, config): job for job in pending}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future].chapter] = future.result()
    ordered = [results[job.chapter] for job in jobs]
    _write_report(config, ordered)
    _prune_store(config, {job.key for job in jobs})
    return ordered


def _start_worker(single_thread: bool) -> None:
    """Pool initializer: the kernels' environment, then the zygote that forks them with it."""
    if single_thread:
        # Chapters run side by side: one BLAS/OpenMP thread each avoids oversubscribing the cores.
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[variable] = "1"
    os.environ["PYTHONHASHSEED"] = "0"
    factory = KernelProvisionerFactory.instance()
    if zygote.PROVISIONER_NAME not in factory.get_provisioner_entries():
        print("bookbuild: the kernel zygote is not registered, so every kernel starts from scratch "
              "(slower); reinstall the package: pip install -e code", file=sys.stderr)
        return
    factory.default_provisioner_name = zygote.PROVISIONER_NAME
    zygote.Zygote.instance()  # starts importing now, while the pool hands out the first job


def execute_chapter(chapter: Path, key: str, config: BookConfig) -> ChapterResult:
    """Run one chapter in a fresh kernel; store it only if every cell succeeded in budget."""
    relative = config.relative(chapter)
    notebook = read_notebook(chapter.read_text())
    running: list[int] = []
    client = NotebookClient(
        notebook,
        timeout=config.cell_timeout,
        kernel_name=notebook.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(chapter.parent)}},
        on_cell_start=lambda cell, cell_index: running.append(cell_index),
        shutdown_kernel="immediate",  # the outputs are in: no need to wait for a clean exit
        config=_ipc_transport(),
    )
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        seconds = time.perf_counter() - start
        failure = _describe_failure(relative, notebook, running, error, config)
        (config.reports_dir / f"{chapter.stem}.log").write_text(
            failure + "\n\n" + ANSI_ESCAPE.sub("", str(error)) + "\n" + traceback.format_exc()
        )
        return ChapterResult(relative, key, executed=True, seconds=seconds, failure=failure)
    seconds = time.perf_counter() - start
    if seconds > config.chapter_budget:
        failure = (f"{relative}: executed in {seconds:.1f} s, over its budget of "
                   f"{config.chapter_budget:g} s (bookbuild_chapter_budget in _config.yml)")
        return ChapterResult(relative, key, executed=True, seconds=seconds, failure=failure)
    temporary = stored_path(config, key).with_suffix(".tmp")
    nbformat.write(notebook, temporary)
    temporary.replace(stored_path(config, key))
    return ChapterResult(relative, key, executed=True, seconds=seconds)


def _ipc_transport() -> Config:
    """Kernel channels over Unix sockets with a path of their own, not localhost TCP.

    No ports to race for between parallel kernels, and no warning from every kernel that
    its TCP traffic is unencrypted. jupyter_client removes the socket files at shutdown.
    """
    sockets = Path(tempfile.gettempdir()) / f"bookbuild-kernel-{uuid.uuid4().hex[:12]}"
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets)}})


def _describe_failure(relative: str, notebook, running: list[int], error: Exception, config: BookConfig) -> str:
    """``book/x.md:42: code cell 3 (`its first line`): ValueError: message``; 42 is the cell's fence."""
    index = running[-1] if running else 0
    cell = notebook.cells[index]
    line = notebook.metadata["source_map"][index]  # MyST-NB's source map: the 1-based line of the cell's fence
    code_number = sum(1 for c in notebook.cells[: index + 1] if c.cell_type == "code")
    first_line = next((text for text in cell.source.splitlines() if text.strip()), "")
    where = f"{relative}:{line}: code cell {code_number} (`{first_line.strip()[:80]}`)"
    if isinstance(error, CellTimeoutError):
        return f"{where}: did not finish within {config.cell_timeout} s (execute.timeout in _config.yml)"
    if isinstance(error, DeadKernelError):
        return f"{where}: the kernel died ({error})"
    return f"{where}: {error.ename}: {ANSI_ESCAPE.sub('', error.evalue)}"


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


def _prune_store(config: BookConfig, current_keys: set[str]) -> None:
    """Drop stored results that no chapter's current key names."""
    for path in config.store_dir.glob("*.ipynb"):
        if path.stem not in current_keys:
            path.unlink()


def format_report(results: list[ChapterResult]) -> str:
    """A table of what each chapter cost in this build."""
    lines = [f"{'chapter':40} {'status':>10} {'seconds':>8}"]
    for result in results:
        status = "FAILED" if result.failure else "executed" if result.executed else "cached"
        seconds = f"{result.seconds:8.1f}" if result.executed else f"{'-':>8}"
        lines.append(f"{result.chapter:40} {status:>10} {seconds}")
    executed = sum(result.executed for result in results)
    lines.append(f"{executed} of {len(results)} chapters executed")
    return "\n".join(lines)
