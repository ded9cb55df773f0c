"""Networks: the paper's two-layer model and the model zoo of its experiments.

The paper's two-layer ReLU network, Eq. (3):

    h = W1^T x + b1,   z = W2^T ReLU(h) + b2 = W2^T Sigma h + b2,

with W1 in R^{n x D}, W2 in R^{D x C} and Sigma = diag(sigma_1..sigma_D) the
gating states (sigma_d = 1 where h_d > 0). ``nn.Linear`` stores the transposes:
``fc1.weight`` is W1^T (D x n) and ``fc2.weight`` is W2^T (C x D).

The zoo (every network takes x: (B, 1, 28, 28) and returns logits z: (B, C);
the head lives in the loss, see ``advnb.core.losses``). ``width`` scales every
hidden width and channel count (``smoke`` 1/8, ``quick`` 1/4, ``paper`` 1):

=============  ==============================================================
MLP-k          k bias-free linear layers, hidden widths the first k-1 of
               1024, 256, 128, 64 (Ren et al. 2022 use all four for k = 5).
CNN-k          k-1 3x3 conv layers of 64 channels (ReLU), a 2x2 max-pool
               after the first and after the last, then one linear layer.
ResCNN-k       CNN-k with an identity skip around every conv but the first:
               h <- ReLU(h + conv(h)). k counts conv + linear layers.
AlexNet,       torchvision's constructors. Stem adapted to 1 x 28 x 28:
VGG-11,        AlexNet's 11x11/4 first conv becomes 3x3/1 (1 channel in);
ResNet-18,     VGG-11 takes 1 channel and drops its last max-pool (28 px
ResNet-50      leave 1 x 1 after four), pooling to 1 x 1 before a
               512-wide classifier; the ResNets' 7x7/2 conv + max-pool
               becomes one 3x3/1 conv (the usual small-image stem).
=============  ==============================================================

All ReLUs are out-of-place so that ``torch.func`` can take per-sample Jacobians,
and BatchNorm (ResNets only) runs in eval mode in every analysis, so that the
frozen-gating linearisation in ``advnb.core.linearize`` is exact for every network.
For ``width < 1`` the torchvision networks are rebuilt with every channel count
and hidden width scaled (lazy modules materialised by one dry forward pass); at
``width = 1`` they are torchvision's own. Every zoo network, ours and torchvision's,
is initialised the same way: Kaiming-normal weights (fan-in, ReLU gain), zero biases,
BatchNorm at weight 1 and bias 0 (without it the narrow ``smoke`` VGG-11 does not train).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TwoLayerReLU(nn.Module):
    """Eq. (3). Input x: (B, n) or (B, 1, 28, 28), flattened. Output z: (B, C)."""

    def __init__(self, n_in: int = 784, hidden: int = 256, n_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


MLP_WIDTHS = (1024, 256, 128, 64)  # Ren et al. (2022)


CNN_CHANNELS = 64


def _scaled(c: int, width: float) -> int:
    return max(1, math.ceil(c * width))


class MLP(nn.Module):
    """MLP-k: k bias-free linear layers. x: (B, 1, 28, 28) -> z: (B, C)."""

    def __init__(self, k: int, width: float = 1.0, n_classes: int = 10, n_in: int = 784):
        super().__init__()
        if not 2 <= k <= len(MLP_WIDTHS) + 1:
            raise ValueError(f"MLP-k needs 2 <= k <= {len(MLP_WIDTHS) + 1} (got {k})")
        dims = [n_in] + [_scaled(w, width) for w in MLP_WIDTHS[: k - 1]]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b, bias=False), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], n_classes, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class ConvNet(nn.Module):
    """CNN-k (``residual=False``) or ResCNN-k (``residual=True``). x: (B, 1, 28, 28) -> z: (B, C).

    conv(1 -> c), ReLU, max-pool 2 (28 -> 14); k-2 times conv(c -> c) and ReLU, each
    wrapped as h <- ReLU(h + conv(h)) when residual; max-pool 2 (14 -> 7); linear(c*49 -> C).
    """

    def __init__(self, k: int, width: float = 1.0, n_classes: int = 10, residual: bool = False,
                 in_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        if k < 2:
            raise ValueError(f"CNN-k needs k >= 2 (got {k})")
        c = _scaled(CNN_CHANNELS, width)
        self.residual = residual
        self.stem = nn.Conv2d(in_shape[0], c, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(k - 2))
        self.relus = nn.ModuleList(nn.ReLU() for _ in range(k - 1))
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c * (in_shape[1] // 4) * (in_shape[2] // 4), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.relus[0](self.stem(x)))
        for conv, relu in zip(self.convs, self.relus[1:]):
            h = relu(h + conv(h)) if self.residual else relu(conv(h))
        return self.fc(self.pool(h).flatten(1))


class RandomReLUCNN(nn.Module):
    """A small ReLU CNN for any image size, used untrained to show Theorem 2 at large n.

    conv 3x3/2 (C_in -> 16), ReLU, conv 3x3/2 (16 -> 32), ReLU, adaptive average pool to
    4 x 4, linear (512 -> C). x: (B, C_in, H, W) -> z: (B, C).
    """

    def __init__(self, in_channels: int = 3, n_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(512, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _no_inplace(model: nn.Module) -> nn.Module:
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
        if isinstance(mod, nn.Dropout):
            mod.inplace = False
    return model


def _rescale(model: nn.Module, width: float, n_classes: int, in_shape: tuple[int, int, int] = (1, 28, 28)) -> nn.Module:
    """Rebuild every Conv2d / BatchNorm2d / Linear with widths scaled by ``width``.

    The first conv keeps its input channels and the last linear its outputs
    (n_classes); input sizes are inferred by a dry forward pass (lazy modules).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]

    def replace(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.groups != 1:
                    raise ValueError("grouped convolutions are not supported by the width rescaling")
                new = nn.LazyConv2d(_scaled(child.out_channels, width), child.kernel_size, child.stride,
                                    child.padding, child.dilation, bias=child.bias is not None)
            elif isinstance(child, nn.BatchNorm2d):
                new = nn.LazyBatchNorm2d()
            elif isinstance(child, nn.Linear):
                out = n_classes if child is linears[-1] else _scaled(child.out_features, width)
                new = nn.LazyLinear(out, bias=child.bias is not None)
            else:
                replace(child)
                continue
            setattr(parent, name, new)

    replace(model)
    with torch.no_grad():
        model.eval()(torch.zeros(1, *in_shape))
    return model


def _alexnet(n_classes: int, channels: int = 1) -> nn.Module:
    import torchvision  # imported on first use: it takes seconds to load

    net = torchvision.models.alexnet(num_classes=n_classes)
    net.features[0] = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1)
    return net


def _vgg11(n_classes: int, channels: int = 1) -> nn.Module:
    import torchvision

    net = torchvision.models.vgg11(num_classes=n_classes)
    net.features[0] = nn.Conv2d(channels, 64, kernel_size=3, padding=1)
    net.features = net.features[:-1]  # drop the fifth max-pool: 28 px are 1 x 1 after four
    net.avgpool = nn.AdaptiveAvgPool2d(1)
    net.classifier[0] = nn.Linear(512, 4096)
    return net


def _resnet(name: str, n_classes: int, channels: int = 1) -> nn.Module:
    import torchvision

    net = getattr(torchvision.models, name)(num_classes=n_classes)
    net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


TORCHVISION = {
    "alexnet": _alexnet,
    "vgg11": _vgg11,
    "resnet18": lambda c, ch=1: _resnet("resnet18", c, ch),
    "resnet50": lambda c, ch=1: _resnet("resnet50", c, ch),
}


def _init(model: nn.Module) -> nn.Module:
    """One initialisation for every zoo network: Kaiming-normal (fan-in, ReLU) weights, zero biases."""
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)
    return model


def _zoo_entry(arch: str):
    kind, _, k = arch.partition("-")
    if kind == "mlp":
        return lambda width, n_classes, in_shape: MLP(int(k), width, n_classes, n_in=math.prod(in_shape))
    if kind in ("cnn", "rescnn"):
        return lambda width, n_classes, in_shape: ConvNet(int(k), width, n_classes, residual=kind == "rescnn",
                                                          in_shape=in_shape)

    def build(width: float, n_classes: int, in_shape: tuple[int, int, int]) -> nn.Module:
        net = TORCHVISION[arch](n_classes, in_shape[0])
        if width != 1.0:
            net = _rescale(net, width, n_classes, in_shape)
        return _no_inplace(net)

    return build


TABLE1 = ("mlp-3", "mlp-4", "mlp-5", "cnn-3", "cnn-4", "cnn-5", "rescnn-3", "rescnn-4", "rescnn-5", "rescnn-10")


TORCHVISION_NETS = ("alexnet", "vgg11", "resnet18", "resnet50")


ZOO = TABLE1 + TORCHVISION_NETS


LABELS = {**{a: a.replace("mlp", "MLP").replace("rescnn", "ResCNN").replace("cnn", "CNN") for a in TABLE1},
          "alexnet": "AlexNet", "vgg11": "VGG-11", "resnet18": "ResNet-18", "resnet50": "ResNet-50"}


ARCHITECTURES = ("two_layer",) + ZOO


def build_model(arch: str, hidden: int = 256, width: float = 1.0, n_classes: int = 10,
                in_shape: tuple[int, int, int] = (1, 28, 28)) -> nn.Module:
    """Construct the network named ``arch`` (one of ``ARCHITECTURES``) for images of ``in_shape``.

    ``hidden`` sizes the two-layer network; ``width`` scales every zoo network; ``in_shape`` is
    (1, 28, 28) for MNIST and (3, 32, 32) for CIFAR-10 (the stems take its channels).
    Returns the network in train mode, float32, on the CPU.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if not width > 0:
        raise ValueError(f"width must be > 0 (got {width})")
    in_shape = tuple(int(d) for d in in_shape)
    if arch == "two_layer":
        return TwoLayerReLU(n_in=math.prod(in_shape), hidden=hidden, n_classes=n_classes)
    return _init(_zoo_entry(arch)(width, n_classes, in_shape)).train()
