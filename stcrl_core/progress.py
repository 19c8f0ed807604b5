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

    bars: list[tqdm] = []  # created on the first report, so failures print no empty bar

    def update(done: int, total: int, message: str) -> None:
        if not bars:
            bars.append(tqdm(desc=desc, total=total, file=sys.stderr, dynamic_ncols=True))
        bar = bars[0]
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()
