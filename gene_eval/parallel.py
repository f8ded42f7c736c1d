"""Run an evaluation's per-item work (render, align) in this process, local processes or Ray.

Evaluation sets are thousands of pairs; the work per pair is independent and CPU-bound, so it is
mapped over ``workers`` processes or over Ray tasks with the same ``--workers`` / ``--ray``
convention as ``genevlm synth`` (``local``: a local Ray with ``workers`` CPUs; ``auto`` or
``ray://…``: a running cluster). Results come back in input order.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from typing import Any, Callable, Iterator, Sequence


class ParallelError(RuntimeError):
    """A worker pool that cannot be started (a bad Ray address, a bad worker count)."""


#: Thread pools of the numeric libraries: one thread per worker process, so that ``workers``
#: processes use ``workers`` cores (open3d's ICP and OpenBLAS would otherwise spin a thread per
#: core in every process and slow each other down on a small machine).
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _one_thread_environment() -> Iterator[None]:
    """Environment the spawned workers inherit (the variables must be set before the libraries
    load, hence in the environment, not in the worker); restored afterwards."""
    previous = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int = 1,
                 ray_address: str | None = None) -> Iterator[Any]:
    """``fn(item)`` for every item, in order. ``fn`` must be a module-level function (it is
    pickled to the workers); one worker and no Ray runs in this process."""
    if workers < 1:
        raise ParallelError("--workers must be at least 1")
    if ray_address:
        yield from _ray_map(fn, items, workers, ray_address)
    elif workers == 1 or len(items) <= 1:
        yield from map(fn, items)
    else:
        with _one_thread_environment(), \
                multiprocessing.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap(fn, items)


def _ray_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int,
             address: str) -> Iterator[Any]:
    import ray

    if not ray.is_initialized():
        try:
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": _ONE_THREAD})
            else:
                ray.init(address=address, log_to_driver=False,
                         runtime_env={"env_vars": _ONE_THREAD})
        except ConnectionError as exc:
            raise ParallelError(f"--ray {address}: no Ray cluster there ({exc})") from None
    task = ray.remote(num_cpus=1)(fn)
    refs = [task.remote(item) for item in items]
    for ref in refs:
        yield ray.get(ref)
