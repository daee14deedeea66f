"""Grad-CAM of the scoring rule's statistic (needs PyTorch; :mod:`.heatmaps` has the ONNX-friendly method)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from inspect_svdd.errors import ConfigError
from inspect_svdd.model.detector import DeepSVDD


def gradcam(det: DeepSVDD, images: np.ndarray) -> np.ndarray:
    """N x S x S maps of where the statistic comes from, in units of the model's R².

    Grad-CAM on the last convolution stage: its channels weighted by the
    statistic's mean gradient, summed, negative parts dropped. With the
    weights as mean gradients, a position's value is its first-order share of
    the statistic, so one R² scale serves every image of the model.

    Raises:
        ConfigError: a tiled model (use occlusion, which sees the whole frame).
    """
    encoder, head, radius = det._fitted()
    if det.config.preprocess.tiles != 1:
        raise ConfigError("Grad-CAM works on untiled models; use --heatmap-method occlusion for a tiled model")
    captured: list[torch.Tensor] = []

    def keep(_module: torch.nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        out.retain_grad()
        captured.append(out)

    encoder.eval()
    handle = encoder.features[-1].register_forward_hook(keep)
    try:
        inputs = np.ascontiguousarray(det._inputs(images))  # registered, as scoring sees them
        statistic = head(encoder.features_of(torch.from_numpy(inputs), det.config.score.feature_kind))
        statistic.sum().backward()
    finally:
        handle.remove()
        encoder.zero_grad(set_to_none=True)
    act = captured[-1]
    assert act.grad is not None
    weights = act.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=images.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
    return (cam / max(radius**2, 1e-12)).double().numpy()
