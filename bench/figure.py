"""The Figure `Run.plot` returns: matplotlib's own, able to show itself in Jupyter or IPython."""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class NotebookFigure(Figure):
    """A matplotlib Figure that IPython shows as a PNG without pyplot: a Figure made apart from
    pyplot's global state (as bench's are) is otherwise shown only as "<Figure size ...>" until
    `%matplotlib inline` or an import of pyplot registers matplotlib's display hook.

    Example:
        >>> run.plot("time")            # the last line of a cell: the figure is drawn below it
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()
