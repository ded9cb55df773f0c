"""The networks (``models``), the digits (``data``), the run sizes (``profiles``) and training
behind its cache (``train``). Imports ``advnb.base`` and ``advnb.core``."""
