"""Probe: OC-NN's hyperplane on fixed codes of one pretrained MNIST encoder, variants of the head (issue 26).

Usage: python scripts/probes/ocnn_head.py [digit]  (MNIST subset, 1 % pollution, the paper's AE)
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from inspect_svdd.bench.data import load_torchvision, one_class_split, pollute_with_classes
from inspect_svdd.bench.recipe import load_recipe
from inspect_svdd.bench.runner import _resized
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.train import embed, seed_everything


def train_head(codes: torch.Tensor, nu: float, bias: bool, epochs: int, lr: float, seed: int = 0) -> torch.nn.Module:
    """OC-NN's head on fixed codes; ``bias``: the hidden layer has a bias (penalised with V)."""
    seed_everything(seed)
    d = codes.shape[1]
    hidden, out = torch.nn.Linear(d, d, bias=bias), torch.nn.Linear(d, 1, bias=False)
    params = [*hidden.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    r = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(codes))
        seen = []
        for i in range(0, len(codes), 200):
            f = out(torch.sigmoid(hidden(codes[order[i:i + 200]]))).squeeze(1)
            reg = 0.5 * sum(p.square().sum() for p in params)
            loss = reg + torch.clamp(r - f, min=0).mean() / nu - r
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen.append(f.detach())
        r = float(np.quantile(torch.cat(seen).numpy(), nu))
    return torch.nn.Sequential(hidden, torch.nn.Sigmoid(), out)


def main() -> None:
    """Train the head variants on one digit's codes and print their test AUROC."""
    digit = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    recipe = load_recipe("recipes/mnist.yaml")
    cfg = recipe.config("paper-pollution-1", "subset", 0)
    data = load_torchvision("mnist", "../shared/datasets")
    split = pollute_with_classes(one_class_split(data, digit, 1000, 2000, 0), data, digit, 0.01, 0)
    train, test = _resized(split.train, cfg.preprocess), _resized(split.test, cfg.preprocess)
    det = DeepSVDD(cfg).pretrain(train, progress=False)
    encoder = det.autoencoder_.encoder  # type: ignore[union-attr]
    z_train, z_test = embed(encoder, train), embed(encoder, test)
    mean, std = z_train.mean(0), z_train.std(0).clamp_min(1e-6)
    print("center distance AUROC", round(roc_auc_score(split.test_anomalous, ((z_test - mean) ** 2).sum(1)), 4))
    for name, (a, b) in {"raw": (z_train, z_test), "standardised": ((z_train - mean) / std, (z_test - mean) / std)}.items():
        for bias in (False, True):
            for epochs, lr in ((150, 1e-4), (300, 1e-3)):
                head = train_head(a, 0.01, bias, epochs, lr)
                with torch.no_grad():
                    score = -head(b).squeeze(1).numpy()
                print(name, "bias" if bias else "no bias", epochs, lr, round(roc_auc_score(split.test_anomalous, score), 4))


if __name__ == "__main__":
    main()
