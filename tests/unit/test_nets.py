"""The paper's network rules and the CPU budget."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inspect_svdd.config import NetConfig
from inspect_svdd.nets import AutoEncoder, Encoder, count_macs

ARCHS = [
    NetConfig(),
    NetConfig(architecture="pooled", widths=(8, 16, 16, 16, 16)),
    NetConfig(architecture="pooled", widths=(8, 16, 16, 16, 16), input_norm="gcn-l1-minmax", decoder="upsample"),
]


@pytest.mark.parametrize("cfg", ARCHS, ids=["strided", "pooled", "upsample-decoder"])
def test_no_bias_no_affine_no_bounded_activation(cfg: NetConfig) -> None:
    ae = AutoEncoder(cfg, channels=3, image_size=128)
    for name, module in ae.named_modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            assert module.bias is None, f"{name} has a bias"
        if isinstance(module, nn.BatchNorm2d):
            assert not module.affine, f"{name} has affine BatchNorm"
    assert not any(isinstance(m, nn.Sigmoid | nn.Tanh | nn.Hardtanh | nn.ReLU6) for m in ae.encoder.modules())
    assert not any("bias" in name for name, _ in ae.named_parameters())


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_from_uint8_nhwc(channels: int) -> None:
    ae = AutoEncoder(NetConfig(), channels, 128).eval()
    x = torch.randint(0, 256, (2, 128, 128, channels), dtype=torch.uint8)
    z = ae.encoder(x)
    recon, target = ae(x)
    assert z.shape == (2, 512)
    assert recon.shape == target.shape == (2, channels, 128, 128)


def test_default_encoder_fits_cpu_budget() -> None:
    macs = count_macs(Encoder(NetConfig(), 3, 128), 3, 128)
    assert 2 * macs < 0.1e9  # the 5x5 + max-pool design costs ~1.4 GFLOP
    pooled = Encoder(NetConfig(architecture="pooled", widths=(32, 64, 128, 256, 256)), 3, 128)
    assert 2 * count_macs(pooled, 3, 128) > 1e9


def test_input_adapter_normalises_with_stored_stats() -> None:
    enc = Encoder(NetConfig(), 1, 128)
    enc.adapter.set_stats([0.2], [0.1])
    x = torch.full((1, 128, 128, 1), 51, dtype=torch.uint8)  # 51 / 255 = 0.2
    assert torch.allclose(enc.adapter(x), torch.zeros(1, 1, 128, 128), atol=1e-6)


@pytest.mark.parametrize(("widths", "rep_dim", "channels", "size"), [((8, 4), 32, 1, 28), ((32, 64, 128), 128, 3, 32)])
def test_paper_decoder_reconstructs_in_unit_range(widths: tuple[int, ...], rep_dim: int, channels: int, size: int) -> None:
    cfg = NetConfig(architecture="pooled", widths=widths, rep_dim=rep_dim, input_norm="gcn-l1-minmax", decoder="upsample")
    ae = AutoEncoder(cfg, channels, size).eval()
    recon, target = ae(torch.randint(0, 256, (3, size, size, channels), dtype=torch.uint8))
    assert recon.shape == target.shape == (3, channels, size, size)
    assert float(recon.min()) > 0 and float(recon.max()) < 1
    convs = [m for m in ae.decoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (i, o, (5, 5)) for i, o in zip([rep_dim // 16, *reversed(widths)], [*reversed(widths), channels], strict=True)
    ]
