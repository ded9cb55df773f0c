"""Frozen gating (assumption A2) realised as exact linearisation, and the gating states it freezes.

With every ReLU gate (and max-pool switch) held at its state at x, a ReLU network
is affine in its input: z(x + delta) = z(x) + J delta with J = dz/dx. The paper's
equivalent weight W~ (Sec. 3.1, under Eq. (3)) is J^T. :func:`linearize` returns that exact
per-sample affine map; attacking it *is* attacking the network with frozen gating.

The rest reads the gates themselves: :func:`gating_states`, :func:`flipped_fraction` and
:func:`relu_flips` (which ReLU gates an attack flips, ties at exactly 0 told apart),
:func:`maxpool_ties` and :func:`maxpool_switches` (max-pool windows), :func:`frozen_forward`
(the network at a new input with the gates of another). Chapters: setup, theorem2, lp_attacks,
gating, and every attack run under A2. Shapes: B samples, C logits, n inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jacrev, vmap


def linearize(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Assumption A2, Sec. 3.1: z(x + delta) = W~^T (x + delta) + b~ with W~^T = J = dz/dx. The frozen-gating affine map at each sample.

    x: (B, *input_shape). Returns J: (B, C, n) and b: (B, C), n = prod(input_shape),
    such that z(x') = J x'_flat + b for every x' with the gating states of x.
    Per-sample Jacobians are batched with ``torch.func.vmap(jacrev(...))``.
    Chapters: setup, theorem2, lp_attacks, gating, and every attack under A2.
    """
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()):
        raise ValueError("linearize needs BatchNorm in eval mode (call model.eval()): in train mode z is not per-sample")
    shape = x.shape[1:]
    flat = x.reshape(x.shape[0], -1)

    def z_of(xi: torch.Tensor) -> torch.Tensor:
        return model(xi.reshape(1, *shape)).squeeze(0)

    J = vmap(jacrev(z_of))(flat)
    with torch.no_grad():
        z = model(x)
    b = z - torch.einsum("bcn,bn->bc", J, flat)
    return J.detach(), b.detach()


def affine_logits(J: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The frozen-gating logits z = J x_flat + b. J: (B, C, n), b: (B, C), x: (B, ...) with n entries. Returns (B, C)."""
    return torch.einsum("bcn,bn->bc", J, x.reshape(x.shape[0], -1)) + b


def read_modules(model: nn.Module, x: torch.Tensor, kinds: type | tuple[type, ...], read) -> int:
    """Run ``model`` at x without gradients, calling ``read(module, input)`` at every module of ``kinds``
    (in the order they run). Returns how many modules were read."""
    handles = [m.register_forward_hook(lambda mod, inputs, _out: read(mod, inputs[0]))
               for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return len(handles)


def relu_inputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of every ReLU gate at x, in the order the ``nn.ReLU`` modules run.

    x: (B, *input_shape). Returns (B, G), G = total number of ReLU units.
    """
    out: list[torch.Tensor] = []
    read_modules(model, x, nn.ReLU, lambda _m, h: out.append(h.reshape(h.shape[0], -1)))
    if not out:
        raise ValueError("model has no nn.ReLU modules whose gates could be read")
    return torch.cat(out, dim=1)


def gating_states(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Every ReLU gate of ``model`` at x, on (True) or off. x: (B, *input_shape). Returns (B, G) bool."""
    return relu_inputs(model, x) > 0


def flipped_fraction(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Fraction of ReLU gates whose state differs between x and x_adv. Returns (B,)."""
    return (gating_states(model, x) != gating_states(model, x_adv)).double().mean(dim=1)


def frozen_forward(model: nn.Module, x: torch.Tensor, x_new: torch.Tensor) -> torch.Tensor:
    """The network at x_new with every ReLU gate and max-pool switch frozen at x.

    An independent, hook-based realisation of A2 (the library's path is
    :func:`linearize`): a first pass at x records each ReLU mask and each max-pool's
    argmax; a second pass at x_new multiplies by the recorded masks and reads the
    recorded positions. x, x_new: (B, *input_shape). Returns z: (B, C).
    """
    record: list[torch.Tensor] = []
    replay = {"on": False, "i": 0}

    def relu_hook(_m, inputs, output):
        if not replay["on"]:
            record.append(inputs[0] > 0)
            return None
        mask = record[replay["i"]]
        replay["i"] += 1
        return inputs[0] * mask

    def pool_hook(m, inputs, output):
        inp = inputs[0]
        if not replay["on"]:
            _, idx = F.max_pool2d(inp, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, return_indices=True)
            record.append(idx)
            return None
        idx = record[replay["i"]]
        replay["i"] += 1
        return inp.flatten(2).gather(2, idx.flatten(2)).view_as(idx)

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            handles.append(mod.register_forward_hook(relu_hook))
        elif isinstance(mod, nn.MaxPool2d):
            handles.append(mod.register_forward_hook(pool_hook))
        elif isinstance(mod, (nn.MaxPool1d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)):
            raise ValueError(f"frozen_forward does not handle {type(mod).__name__}")
    try:
        with torch.no_grad():
            model(x)
            replay["on"] = True
            return model(x_new)
    finally:
        for h in handles:
            h.remove()


def _maxpool_records(model: nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For every nn.MaxPool2d: its input windows (B, C, k*k, L) and the argmax indices (B, C, L)."""
    records = []

    def read(mod, inp):
        B, C = inp.shape[:2]
        win = F.unfold(inp.flatten(0, 1)[:, None], mod.kernel_size, mod.dilation, mod.padding, mod.stride)
        _, idx = F.max_pool2d(inp, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, return_indices=True)
        records.append((win.reshape(B, C, win.shape[1], -1), idx.flatten(2)))

    read_modules(model, x, nn.MaxPool2d, read)
    return records


def relu_flips(model: nn.Module, x: torch.Tensor, x_new: torch.Tensor) -> dict[str, torch.Tensor]:
    """ReLU gates at x against x_new, with the gates *tied* at x (input exactly 0) told apart.

    A gate whose input is exactly 0 sits on the kink of the ReLU: it is off at x, and any
    perturbation with a positive component along its weights switches it on. (On MNIST this
    happens where a channel with zero bias sees the blank background.) Returns (B,) tensors:
    ``flipped`` (fraction of all gates whose state differs), ``ties`` (fraction tied at x) and
    ``flipped_untied`` (fraction of the untied gates whose state differs).
    """
    h0, h1 = relu_inputs(model, x), relu_inputs(model, x_new)
    flip = (h0 > 0) != (h1 > 0)
    tie = h0 == 0
    untied = (~tie).double().sum(1).clamp_min(1)
    return {"flipped": flip.double().mean(1), "ties": tie.double().mean(1),
            "flipped_untied": (flip & ~tie).double().sum(1) / untied}


def maxpool_ties(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Fraction of max-pool windows whose positive maximum is attained more than once.

    At such a tie the network is not differentiable: the gradient (and the frozen-gating
    linearisation) routes through one of the tied entries, and any perturbation that breaks
    the tie otherwise re-routes it. Ties at 0 (every entry switched off by a ReLU) are not
    counted: nothing flows through them. x: (B, ...). Returns (B,); NaN without max-pools.
    """
    recs = _maxpool_records(model, x)
    if not recs:
        return torch.full((len(x),), float("nan"), dtype=torch.float64, device=x.device)
    tied, total = 0, 0
    for win, _ in recs:
        top = win.max(dim=2, keepdim=True).values
        tie = ((win == top).sum(2) > 1) & (top[:, :, 0] > 0)
        tied = tied + tie.flatten(1).double().sum(1)
        total += tie[0].numel()
    return tied / total


def maxpool_switches(model: nn.Module, x: torch.Tensor, x_new: torch.Tensor) -> torch.Tensor:
    """Fraction of max-pool windows whose selected entry differs between x and x_new.

    The max-pool counterpart of :func:`advnb.core.linearize.flipped_fraction`. x, x_new: (B, ...).
    Returns (B,); NaN for a network without max-pools.
    """
    a, b = _maxpool_records(model, x), _maxpool_records(model, x_new)
    if not a:
        return torch.full((len(x),), float("nan"), dtype=torch.float64, device=x.device)
    changed = torch.cat([(ia != ib).flatten(1) for (_, ia), (_, ib) in zip(a, b)], dim=1)
    return changed.double().mean(1)
