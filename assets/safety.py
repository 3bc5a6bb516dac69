"""A step's exception text can quote data (a KeyError on a name, a parser echoing a cell). This
wrapper re-raises any failure as its class and the project code location only, so nothing a
child's record holds reaches Dagster's event log or alerts."""
import errno
import functools
import inspect
import traceback
from pathlib import Path

from alerts import raise_alert
from register import disk_full

ROOT = Path(__file__).resolve().parents[1]


class StepFailed(Exception):
    """A step failed; the original message is withheld because it may hold personal data."""


def where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(ROOT))
              and "/.venv/" not in f.filename]
    f = frames[-1] if frames else None
    return f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} in {f.name}" if f else "outside Rollcall's code"


def describe(exc: BaseException) -> str:
    """Class and place; the message too for our own exceptions whose text is known to be safe,
    and the error name of an operating-system fault (which carries no data)."""
    text = f"{type(exc).__name__} at {where(exc)}"
    if getattr(exc, "safe_message", False):
        text += f": {exc}"
    elif isinstance(exc, OSError) and exc.errno:
        text += f" ({errno.errorcode.get(exc.errno, exc.errno)})"
    if disk_full(exc):
        text += ": the disk is full"
    return text


def alert_disk_full(step: str, error: str, **fields) -> None:
    """A full disk stops Rollcall's work without losing any: say so at once, by name."""
    raise_alert("disk_full", step=step, error=error, **fields)


def scrubbed(fn):
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except StepFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - re-raised; only its text is withheld
                if disk_full(exc):
                    alert_disk_full(fn.__name__, describe(exc))
                raise StepFailed(describe(exc)) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StepFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised; only its text is withheld
            if disk_full(exc):
                alert_disk_full(fn.__name__, describe(exc))
            raise StepFailed(describe(exc)) from None
    return wrapper
