"""dfbench: how much deepfake detectors lose under adversarial attack, and what defenses win back.

The public API::

    from dfbench import create_detector, create_attack, list_detectors
"""

__version__ = "0.1.0"

from .attacks import (  # noqa: E402
    Attack,
    attacks,
    create_attack,
    register_attack,  # noqa: E402
)
from .data import create_dataset, datasets  # noqa: E402
from .defenses import Defense, defend, defenses  # noqa: E402
from .detectors import Detector, create_detector, detectors, register_detector  # noqa: E402


def list_detectors() -> list[str]:
    return detectors.names()


def list_attacks() -> list[str]:
    return attacks.names()


def list_defenses() -> list[str]:
    return defenses.names()


def list_datasets() -> list[str]:
    return datasets.names()


__all__ = ["Attack", "Defense", "Detector", "create_attack", "create_dataset", "create_detector", "defend",
           "list_attacks", "list_datasets", "list_defenses", "list_detectors", "register_attack",
           "register_detector"]
