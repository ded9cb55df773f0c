"""pytest configuration for ``make notebooks`` (nbval over the chapters).

After a cell has finished, nbval reads the cell's output messages with a fixed 5-second timeout per
message, and reports "Timeout of 5 seconds exceeded waiting for output" when one is late. On a loaded
machine (a CI runner shared with other jobs) a message can be that late although the cell succeeded,
so the wait is raised to two minutes; a cell that really hangs is still stopped by
``--nbval-cell-timeout``.
"""

import nbval.plugin as _nbval

OUTPUT_TIMEOUT_S = 120

_init = _nbval.IPyNbCell.__init__


def _patient_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.output_timeout = OUTPUT_TIMEOUT_S


_nbval.IPyNbCell.__init__ = _patient_init
