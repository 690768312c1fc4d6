"""dfbench: how much deepfake detectors lose under adversarial attack, and what defenses win back.

The public API::

    import dfbench
    results = dfbench.evaluate(model, mean=(0.5,) * 3, std=(0.5,) * 3)   # any nn.Module, in one call
    detector = dfbench.load_detector("sbi_efficientnet_b4", weights="FFc23.tar")
    detector = dfbench.wrap(model, output="logit")                        # the Detector interface
    detector, result = dfbench.train(model, dataset="mini", epochs=20)    # dfbench's training recipe
    from dfbench import create_detector, create_attack, list_detectors
"""

__version__ = "0.1.0"

from . import train  # noqa: E402  (callable: dfbench.train(model, ...))
from .attacks import (  # noqa: E402
    Attack,
    attacks,
    create_attack,
    register_attack,
)
from .data import create_dataset, datasets  # noqa: E402
from .defenses import Defense, defend, defenses  # noqa: E402
from .detectors import Detector, create_detector, detectors, register_detector, wrap  # noqa: E402
from .train.trained import load_detector  # noqa: E402


def evaluate(model, **kwargs):
    """``dfbench.evaluate(model, ...)``: see :func:`dfbench.evaluation.evaluate` (imported on first use,
    so that ``import dfbench`` stays light)."""
    from .evaluation import evaluate as run

    return run(model, **kwargs)


def list_detectors() -> list[str]:
    return detectors.names()


def list_attacks() -> list[str]:
    return attacks.names()


def list_defenses() -> list[str]:
    return defenses.names()


def list_datasets() -> list[str]:
    return datasets.names()


__all__ = ["Attack", "Defense", "Detector", "create_attack", "create_dataset", "create_detector", "defend",
           "evaluate", "list_attacks", "list_datasets", "list_defenses", "list_detectors", "load_detector",
           "register_attack", "register_detector", "train", "wrap"]
