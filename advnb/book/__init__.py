"""The book's machinery: parameter rules (``params``), glue and build records (``record``),
running a chapter (``runs``), the scoreboard, sweeps, the benchmark and the command line (``cli``).
The top layer: it may import every other."""
