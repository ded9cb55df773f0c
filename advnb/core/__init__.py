"""The paper's mathematics (Sec. 2-3): losses, frozen gating, attacks, Theorems 1-2, the
binary closed forms of Sec. 3.3 and the metrics. Reads no files, knows no notebooks; imports only
``advnb.base`` and itself."""
