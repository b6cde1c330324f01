"""Run a command and measure its wall time and the peak RSS of its whole process tree.

Two measures, both in kB:

- ``sampled``: every ``interval`` seconds a thread lists the process and all its
  descendants (``/proc/PID/task/*/children``, recursively) and sums their VmRSS; the
  largest sum. It can miss a peak shorter than the interval.
- ``hwm_sum``: the sum over every process of the tree of its own VmHWM, read as it exits
  (``exit_hwm/sitecustomize.py``, for Python processes) or, failing that, the last value
  the sampler read. Each process's peak counts even if the peaks did not coincide, and
  pages shared after a fork count once per process: it can only overstate.

A child still sharing its parent's memory (between ``vfork`` and ``exec``, as
``subprocess`` starts ``uname -p`` for ``platform.processor()``) is not counted: its
VmRSS is its parent's.

``Measured.peak_kb`` is the larger of the two, the conservative figure.

- ``pss_kb``: the same sampling, summing each process's proportional set size
  (``/proc/PID/smaps_rollup``): a page shared by N processes (a forked worker's imports)
  counts 1/N in each, so the sum is what the tree holds. The figure for a tree of
  forked processes; the RSS sums count their shared pages once per process.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HWM_SITE = Path(__file__).resolve().parent / "exit_hwm"


@dataclass
class Measured:
    wall: float  # seconds, from just before the fork to the reaping of the process
    sampled_kb: int
    hwm_sum_kb: int
    processes: int  # distinct processes seen in the tree (sampled or reporting)
    returncode: int
    stderr: str
    pss_kb: int = 0  # the largest sampled sum of PSS

    @property
    def peak_kb(self) -> int:
        return max(self.sampled_kb, self.hwm_sum_kb)

    @property
    def peak_source(self) -> str:
        return "hwm" if self.hwm_sum_kb >= self.sampled_kb else "sampled"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as stream:
                found.extend(int(child) for child in stream.read().split())
        except OSError:
            continue
    return found


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _memory(pid: int) -> tuple[int, int, int] | None:
    """(VmRSS, VmHWM, VmSize) of ``pid`` in kB; None once it has exited (a zombie has
    none of them)."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(("VmSize:", "VmHWM:", "VmRSS:")):
                    found[line[:5]] = int(line.split()[1])
                    if len(found) == 3:  # VmSize, VmHWM, VmRSS, in that order
                        break
    except (OSError, ValueError):
        return None
    if len(found) < 3:
        return None
    return found["VmRSS"], found["VmHWM"], found["VmSiz"]


_KCMP = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine)
_KCMP_VM = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _shares_memory(parent: int, child: int) -> bool | None:
    """Whether ``child`` still runs in ``parent``'s memory (``vfork``, before ``exec``);
    None if the kernel cannot tell. Asked before the child's memory is read: an exec
    cannot be undone, so a child found apart stays apart."""
    if _KCMP is None:
        return None
    answer = _libc.syscall(_KCMP, parent, child, _KCMP_VM, 0, 0)
    return None if answer < 0 else answer == 0


class _Sampler(threading.Thread):
    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.stopping = threading.Event()
        self.peak = 0
        self.pss_peak = 0
        self.hwm: dict[int, int] = {}  # pid: the last VmHWM read (kB)

    def sample(self) -> None:
        total = pss = 0
        pending: list[tuple[int, int | None, tuple[int, int, int] | None]] = [
            (self.root, None, None)
        ]
        seen = set()
        while pending:
            pid, parent, parent_memory = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            shared = None if parent is None else _shares_memory(parent, pid)
            memory = _memory(pid)
            if memory is None:
                continue
            if shared is None and parent_memory is not None:
                # No kcmp: the same size and RSS as the parent's is taken for its memory.
                shared = memory[0] == parent_memory[0] and memory[2] == parent_memory[2]
            if not shared:
                total += memory[0]
                pss += _pss(pid)
                self.hwm[pid] = memory[1]  # the last read: an exec starts a new VmHWM
            pending.extend((child, pid, memory) for child in _children(pid))
        self.peak = max(self.peak, total)
        self.pss_peak = max(self.pss_peak, pss)

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sample()
            self.stopping.wait(self.interval)


def run_measured(
    command: list[str],
    env: dict[str, str] | None = None,
    interval: float = 0.02,
    timeout: float = 3600,
) -> Measured:
    """Run ``command`` (stdout discarded, stderr kept) and measure it."""
    environment = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="zkiz-bench-hwm-") as reports:
        environment["ZKIZ_BENCH_HWM_DIR"] = reports
        path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = f"{HWM_SITE}{os.pathsep}{path}" if path else str(HWM_SITE)
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errors:
            started = time.perf_counter()
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=errors, env=environment
            )
            sampler = _Sampler(process.pid, interval)
            sampler.start()
            try:
                returncode = process.wait(timeout)
            finally:
                wall = time.perf_counter() - started
                sampler.stopping.set()
                sampler.join()
                if process.poll() is None:
                    process.kill()
                    process.wait()
            errors.seek(0)
            stderr = errors.read()
        hwm = dict(sampler.hwm)
        for report in Path(reports).iterdir():
            try:
                reported = int(report.read_text())
            except ValueError:
                continue
            hwm[int(report.name)] = reported  # exact, and read after any exec
    return Measured(
        wall,
        sampler.peak,
        sum(hwm.values()),
        len(hwm),
        returncode,
        stderr,
        sampler.pss_peak,
    )
