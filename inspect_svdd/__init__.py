"""inspect-svdd: Deep SVDD visual inspection.

``from inspect_svdd import DeepSVDD`` (needs torch) and ``from inspect_svdd
import OnnxScorer`` (torch-free) are resolved on first use, so importing the
package (and ``inspect-svdd --help``) stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["DeepSVDD", "OnnxScorer", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "DeepSVDD":
        from inspect_svdd.model.detector import DeepSVDD

        return DeepSVDD
    if name == "OnnxScorer":
        from inspect_svdd.deploy.runtime import OnnxScorer

        return OnnxScorer
    raise AttributeError(f"module 'inspect_svdd' has no attribute {name!r}")
