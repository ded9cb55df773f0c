"""One module per chapter notebook, named as the notebook: its measurements and its figures.
``common`` holds the measurements and ``figures`` the figures that several chapters share.
Imports ``advnb.base``, ``advnb.core`` and ``advnb.nets``; never ``advnb.book``."""
