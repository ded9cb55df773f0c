"""advnb: the numerics behind the book *Clarifying the Behavior and the Difficulty of Adversarial
Training* (Cheng et al., AAAI 2024), re-derived and re-measured.

Layers, each importing only from those before it (``tests/test_layout.py`` checks every import):

- ``base``      the error type and the files (cache, notebooks, atomic writes); imports nothing of advnb
- ``core``      the paper's mathematics: losses, linearize (A2), attacks (A1, PGD), theory (Theorems
                1-2), binary (Lemma 1, Eqs. (9)-(11)), metrics; reads no files, knows no notebooks
- ``nets``      the networks (models), the digits (data), the run sizes (profiles), training (train)
- ``chapters``  one module per chapter notebook, with its name: its measurements and its figures;
                ``common`` and ``figures`` hold what several chapters share
- ``book``      the machinery: params (rules), record (glue, build records), runs (papermill),
                scoreboard, sweep, bench, cli

Where each result of the paper is computed, and which chapter shows it:

=============================  =================================================  ==============
Paper                          Function                                           Chapter
=============================  =================================================  ==============
Eq. (3), the two-layer net     ``nets.models.TwoLayerReLU``                        setup
Eq. (4), the A1 attack         ``core.attacks.gradient_ascent``                    theorem1
Assumption A2                  ``core.linearize.linearize``                        setup, gating
Theorem 1, Eq. (5)             ``core.theory.finite_step_delta``                   theorem1
Theorem 2, Eq. (6)             ``core.theory.infinite_step_delta``                 theorem2
  dense reference              ``core.theory.delta_eigensum``                      theorem2
Table 1 (kappa)                ``chapters.theorem2.kappa_map``, ``core.metrics``   theorem2
Fig. 1                         ``chapters.figures.figure1_panel``                  theorem2, lp_attacks
C1                             ``core.theory.top_energy_share``                    theorem2
C2, Fig. 2                     ``chapters.growth.growth_experiment``               growth
Sec. 3.2, Appendix D           ``chapters.lp_attacks.matching_table``              lp_attacks
C3                             ``chapters.lp_attacks.c3_curves``                   lp_attacks
Appendix J (A2 in practice)    ``chapters.gating.gating_at_beta``                  gating
Lemma 1                        ``core.binary.sigmoid_gap``                         lemma1
Theorem 3, Eq. (9)             ``core.binary.eq9``                                 theorem3
Table 2 (kappa')               ``chapters.common.table2``                          theorem3
Theorem 4, Eq. (10), C4        ``core.binary.eq10``                                theorem4
C5, Fig. 3                     ``chapters.imbalance.c5_samples``                   imbalance
Fig. 4                         ``core.binary.cos_to_mean``                         imbalance
Theorem 5, Eq. (11)            ``core.binary.eq11``                                theorem5
C6, C7                         ``chapters.theorem5.c67_samples``                   theorem5
Theorem 6, Eq. (12)            ``chapters.theorem6.eq12_check``                    theorem6
C8, Fig. 5                     ``chapters.theorem6.gradient_instability``          theorem6
=============================  =================================================  ==============
"""

__version__ = "0.1.0"
