"""Progress reporting for long work.

Long-running library functions take ``progress(done, total, message)``; the CLI
passes a tqdm bar (:func:`tqdm_progress`), the app a ``st.progress`` adapter.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressCallback = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """A progress callback that ignores every report."""


@contextmanager
def tqdm_progress(desc: str) -> Iterator[ProgressCallback]:
    """Yield a progress callback that drives a tqdm bar on stderr.

    Args:
        desc: The bar's label.

    Yields:
        A ``progress(done, total, message)`` callback.
    """
    from tqdm import tqdm

    bar = tqdm(desc=desc, total=0, file=sys.stderr, unit="it", dynamic_ncols=True)

    def update(done: int, total: int, message: str) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
