"""The one exception of `runners.datasets`.

    DatasetError            every failure: unknown name, missing source, download, checksum,
                            corrupt raw file, invalid prepared .npz

Its message is one line naming the file (or URL), the problem and, where there is one, the fix, so
the orchestrator and the runners can print it as is.
"""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset could not be prepared or a prepared file is not valid."""
