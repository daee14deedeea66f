"""What is learned: networks, hypersphere maths, training, synthetic defects, the DeepSVDD detector, its model directory."""

from inspect_svdd.model.detector import DeepSVDD

__all__ = ["DeepSVDD"]
