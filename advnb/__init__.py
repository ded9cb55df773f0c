"""advnb: the numerics behind the book *Clarifying the Behavior and the Difficulty
of Adversarial Training* (Cheng et al., AAAI 2024), re-derived and re-measured.

One module, one idea:

- ``profiles``  run sizes (smoke / quick / paper / auto) and the device choice
- ``params``    validation of chapter parameters (one-line errors)
- ``data``      MNIST: the 5,000 embedded digits, or full MNIST from a data root
- ``models``    the two-layer ReLU network of Eq. (3)
- ``train``     vanilla training behind an on-disk, config-keyed cache
- ``gating``    frozen gating (assumption A2) realised as exact linearisation
- ``hessian``   g_z and H_z of the softmax and sigmoid losses
- ``attacks``   the A1 gradient-ascent attack, with and without frozen gating
- ``theory``    Theorems 1 and 2 in push-through form, and the dense reference
- ``metrics``   kappa and 1 - cos
- ``experiments`` each chapter measurement as one function
- ``plots``     the book's figures
- ``record``    ``glue`` that also records values for ``advnb run``
- ``cli``       ``advnb run`` / ``advnb list``
"""

__version__ = "0.1.0"
