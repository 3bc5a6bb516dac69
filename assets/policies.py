"""Policies every Rollcall asset shares: how fresh the register must be. No asset lives here."""
import functools
import gc
import inspect
from contextlib import contextmanager
from datetime import timedelta

from dagster import FreshnessPolicy

# The register and the CME list are re-found every morning; a day and two hours without a
# successful run fails their freshness, an hour earlier warns.
DAILY = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))


@contextmanager
def collecting_rarely():
    """Python's cyclic garbage collector runs after every 700 new container objects; a run
    makes millions (rows read and written, pairs, clusters) and each collection scanned them
    again: about 2 s of the 17 s full link at 200,000 children. A step's objects are seldom
    cyclic, so the bulk steps collect a hundred times less often while they run, however the
    run was launched (the command line, the Dagster UI's run worker, a schedule)."""
    before = gc.get_threshold()
    gc.set_threshold(70_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def bulk_step(fn):
    """Run the step (a function or a generator) under collecting_rarely."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            with collecting_rarely():
                yield from fn(*args, **kwargs)
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with collecting_rarely():
            return fn(*args, **kwargs)
    return wrapper
