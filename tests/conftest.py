
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own model cache."""
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path / "cache"))
    yield


def random_instance(B=3, C=4, n=30, seed=0, softmax=True):
    """Random J (B, C, n), a PSD H̄_z (B, C, C) and g_z (B, C) in float64.

    softmax=True gives H̄_z = diag(p) - p p^T, which is always singular.
    """
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(B, C, n, generator=g, dtype=torch.float64) / n**0.5
    if softmax:
        p = torch.softmax(torch.randn(B, C, generator=g, dtype=torch.float64), dim=1)
        hz = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    else:
        R = torch.randn(B, C, C, generator=g, dtype=torch.float64)
        hz = R @ R.transpose(1, 2) / C
    g_z = torch.randn(B, C, generator=g, dtype=torch.float64)
    return J, hz, g_z
