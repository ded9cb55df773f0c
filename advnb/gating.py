"""Frozen gating (assumption A2) realised as linearisation.

With every ReLU gate (and max-pool switch) held at its state at x, a ReLU network
is affine in its input: z(x + delta) = z(x) + J delta with J = dz/dx. The paper's
equivalent weight W~ is J^T. ``linearize`` returns that exact per-sample affine map;
attacking it *is* attacking the network with frozen gating.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from torch.func import jacrev, vmap


def linearize(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen-gating affine map at each sample.

    x: (B, *input_shape). Returns J: (B, C, n) and b: (B, C), n = prod(input_shape),
    such that z(x') = J x'_flat + b for every x' with the gating states of x.
    Per-sample Jacobians are batched with ``torch.func.vmap(jacrev(...))``.
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
