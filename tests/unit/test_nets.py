"""The paper's network rules and the CPU budget."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from inspect_svdd.config import RESNET18_WIDTHS, NetConfig
from inspect_svdd.model.nets import IMAGE_STD_FLOOR, AutoEncoder, Encoder, ImageStandardiser, count_macs

ARCHS = [
    NetConfig(),
    NetConfig(architecture="pooled", widths=(8, 16, 16, 16, 16)),
    NetConfig(architecture="pooled", widths=(8, 16, 16, 16, 16), input_norm="gcn-l1-minmax", decoder="upsample"),
    NetConfig(architecture="pooled", widths=(8, 16, 16, 16, 16), input_norm="gcn-l1-minmax", decoder="upsample",
              code_norm=True, init="xavier"),
    NetConfig(architecture="resnet18", widths=RESNET18_WIDTHS),
]


@pytest.mark.parametrize("cfg", ARCHS, ids=["strided", "pooled", "upsample-decoder", "upsample-code-norm", "resnet18"])
def test_no_bias_no_affine_no_bounded_activation(cfg: NetConfig) -> None:
    ae = AutoEncoder(cfg, channels=3, image_size=128)
    for name, module in ae.named_modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            assert module.bias is None, f"{name} has a bias"
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            assert not module.affine, f"{name} has affine BatchNorm"
    assert not any(isinstance(m, nn.Sigmoid | nn.Tanh | nn.Hardtanh | nn.ReLU6) for m in ae.encoder.modules())
    assert not any("bias" in name for name, _ in ae.named_parameters())


@pytest.mark.parametrize("cfg", [ARCHS[0], ARCHS[1], ARCHS[4]], ids=["strided", "pooled", "resnet18"])
def test_rules_switched_off_give_bias_and_affine_batchnorm_for_measuring_them(cfg: NetConfig) -> None:
    encoder = Encoder(dataclasses.replace(cfg, svdd_rules=False), channels=3, image_size=32)
    norms = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.affine for m in norms) and encoder.fc.bias is not None
    convs = [m for m in encoder.features.modules() if isinstance(m, nn.Conv2d)]
    if cfg.architecture == "resnet18":  # torchvision's convolutions never had a bias: the affine BatchNorm after each is it
        assert convs and all(m.bias is None for m in convs)
    else:
        assert convs and all(m.bias is not None for m in convs)


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


def test_per_image_standardiser_ignores_gain_and_offset_and_keeps_flat_images_finite() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(60, 120, (2, 32, 32, 3))
    darker = np.stack([base, 0.5 * base + 20]).reshape(4, 32, 32, 3)  # the same parts, half the gain, an offset
    out = ImageStandardiser(3)(torch.from_numpy(darker.astype(np.float32)))
    assert torch.allclose(out[:2], out[2:], atol=1e-4)
    assert torch.allclose(out.mean(dim=(2, 3)), torch.zeros(4, 3), atol=1e-4)
    flat = ImageStandardiser(1)(torch.full((1, 8, 8, 1), 200, dtype=torch.uint8))
    assert torch.isfinite(flat).all() and float(flat.abs().max()) == 0.0
    noisy = torch.full((1, 8, 8, 1), 200, dtype=torch.uint8)
    noisy[0, 0, 0, 0] = 201  # one grey level of noise: the floor keeps it small, not blown up to unit std
    assert float(ImageStandardiser(1)(noisy).abs().max()) < 1 / 255 / IMAGE_STD_FLOOR


def test_per_image_standardiser_gives_onnx_runtime_the_same_input(tmp_path) -> None:
    """Its statistics are float64 inside the graph too: float32 sums over an image differed by ~1e-5 between the
    backends, and the local network amplified that to 1.2e-3 of the score on the samples (over the parity limit)."""
    import onnxruntime as ort

    images = np.random.default_rng(3).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    torch.onnx.export(ImageStandardiser(3), (torch.from_numpy(images),), str(tmp_path / "s.onnx"), input_names=["x"],
                      dynamo=True, external_data=False, verbose=False)
    session = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"x": images})[0]
    torch_out = ImageStandardiser(3)(torch.from_numpy(images)).numpy()
    assert np.abs(onnx_out - torch_out).max() <= 1e-6


@pytest.mark.parametrize(("widths", "rep_dim", "channels", "size"), [((8, 4), 32, 1, 28), ((32, 64, 128), 128, 3, 32)])
def test_paper_decoder_reconstructs_in_unit_range(widths: tuple[int, ...], rep_dim: int, channels: int, size: int) -> None:
    cfg = NetConfig(architecture="pooled", widths=widths, rep_dim=rep_dim, input_norm="gcn-l1-minmax", decoder="upsample")
    ae = AutoEncoder(cfg, channels, size).eval()
    with torch.no_grad():
        recon, target = ae(torch.randint(0, 256, (3, size, size, channels), dtype=torch.uint8))
    assert recon.shape == target.shape == (3, channels, size, size)
    assert float(recon.min()) > 0 and float(recon.max()) < 1
    convs = [m for m in ae.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (i, o, (5, 5)) for i, o in zip([rep_dim // 16, *reversed(widths)], [*reversed(widths), channels], strict=True)
    ]


def test_cifar_autoencoder_options_code_norm_and_xavier_init() -> None:
    """Ruff et al.'s CIFAR-10 AE: non-affine BatchNorm1d on the code, Xavier-uniform convolutions."""
    base = NetConfig(architecture="pooled", widths=(32, 64, 128), rep_dim=128, leaky_slope=0.01,
                     input_norm="gcn-l1-minmax", decoder="upsample")
    torch.manual_seed(0)
    plain = AutoEncoder(base, 3, 32)
    torch.manual_seed(0)
    paper = AutoEncoder(dataclasses.replace(base, code_norm=True, init="xavier"), 3, 32)
    norms = [m for m in paper.decoder.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 1 and not norms[0].affine and norms[0].num_features == 128
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    assert not any(isinstance(m, nn.BatchNorm1d) for m in paper.encoder.modules())  # the encoder is unchanged
    gain = nn.init.calculate_gain("leaky_relu", 0.01)
    convs = [[m for m in ae.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)] for ae in (paper, plain)]
    for conv_p, conv_d in zip(*convs, strict=True):
        fan_in, fan_out = conv_p.in_channels * 25, conv_p.out_channels * 25
        bound = gain * (6 / (fan_in + fan_out)) ** 0.5
        assert float(conv_p.weight.abs().max()) <= bound + 1e-6
        assert float(conv_p.weight.abs().max()) > 0.9 * bound  # uses the whole Xavier range
        assert not torch.equal(conv_p.weight, conv_d.weight)
    paper.train()
    recon, target = paper(torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8))
    assert recon.shape == target.shape == (4, 3, 32, 32)


def test_xavier_all_also_initialises_the_linear_layers() -> None:
    """The original Theano code's Lasagne defaults: Xavier-uniform (gain 1) dense layers too."""
    base = NetConfig(architecture="pooled", widths=(8, 4), rep_dim=32, leaky_slope=0.01,
                     input_norm="gcn-l1-minmax", decoder="upsample")
    torch.manual_seed(0)
    convs_only = AutoEncoder(dataclasses.replace(base, init="xavier"), 1, 28)
    torch.manual_seed(0)
    every = AutoEncoder(dataclasses.replace(base, init="xavier-all"), 1, 28)
    fc = every.encoder.fc.weight
    bound = (6 / (fc.shape[0] + fc.shape[1])) ** 0.5
    assert 0.9 * bound < float(fc.abs().max()) <= bound + 1e-6
    assert float(convs_only.encoder.fc.weight.abs().max()) <= 1 / fc.shape[1] ** 0.5 + 1e-6  # PyTorch's default, narrower
    assert bound > 1.5 / fc.shape[1] ** 0.5


def test_dictionary_first_filters_learn_the_patches_structure() -> None:
    """Images of vertical stripes: every learned 5x5 atom is (almost) constant down its columns."""
    cfg = NetConfig(architecture="pooled", widths=(8, 4), rep_dim=32, input_norm="gcn-l1-minmax",
                    decoder="upsample", first_filters="dictionary")
    rng = np.random.default_rng(0)
    stripes = [np.tile((255 * (np.sin(np.arange(28) * f + p) > 0)).astype(np.uint8), (28, 1))
               for f, p in rng.uniform([0.3, 0], [1.5, 6], (60, 2))]
    images = np.stack(stripes)[..., None]
    weights = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        ae = AutoEncoder(cfg, 1, 28)
        before = ae.encoder.features[0].weight.detach().clone()
        ae.fit_input(images, seed)
        w = ae.encoder.features[0].weight.detach()
        assert not torch.equal(w, before)
        weights.append(w)
    w = weights[0][:, 0]  # 8 x 5 x 5
    assert torch.allclose(w.flatten(1).norm(dim=1), torch.ones(8), atol=1e-4)
    down_columns = w.var(dim=1).mean()
    across_rows = w.var(dim=2).mean()
    assert float(down_columns) < 0.05 * float(across_rows), (down_columns, across_rows)
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])  # seeded


@pytest.mark.parametrize(("widths", "rep_dim", "channels", "size", "grids"), [
    ((8, 4), 32, 1, 28, [(8, 8), (16, 14), (28, 28)]),  # the authors' MNIST decoder: 8 -> 16, cropped to 14 -> 28
    ((32, 64, 128), 128, 3, 32, [(4, 4), (8, 8), (16, 16), (32, 32)]),  # CIFAR-10: no upsampling before the first
])
def test_paper_decoder_grid_sizes(widths: tuple[int, ...], rep_dim: int, channels: int, size: int,
                                  grids: list[tuple[int, int]]) -> None:
    cfg = NetConfig(architecture="pooled", widths=widths, rep_dim=rep_dim, input_norm="gcn-l1-minmax", decoder="upsample")
    ae = AutoEncoder(cfg, channels, size).eval()
    seen: list[tuple[int, int]] = []
    for conv in ae.decoder.convs:
        conv.register_forward_hook(lambda _m, inp, out: seen.append((inp[0].shape[-1], out.shape[-1])))
    ae(torch.randint(0, 256, (2, size, size, channels), dtype=torch.uint8))
    assert seen == grids


@pytest.mark.parametrize(("size", "stem_stride"), [(32, 1), (128, 2)])
def test_resnet18_encoder_is_512_d_with_the_usual_stem(size: int, stem_stride: int) -> None:
    encoder = Encoder(NetConfig(architecture="resnet18", widths=RESNET18_WIDTHS), channels=3, image_size=size).eval()
    batch = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (2, size, size, 3), dtype=np.uint8))
    assert encoder(batch).shape == (2, 512) and encoder.stage_features(batch).shape == (2, encoder.feature_dim("stages"))
    stem = encoder.features[0][0]
    assert stem.stride == (stem_stride, stem_stride) and stem.kernel_size == ((3, 3) if size < 64 else (7, 7))
    assert isinstance(encoder.features[0][3], nn.Identity if size < 64 else nn.MaxPool2d)
    assert sum(p.numel() for p in encoder.parameters()) > 11_000_000  # ResNet-18's body, not a stand-in
    assert NetConfig(architecture="resnet18").widths == RESNET18_WIDTHS  # no widths given: the architecture's own
    with pytest.raises(Exception, match="resnet18 has stage widths"):
        NetConfig(architecture="resnet18", widths=(16, 32, 64, 128, 256))
