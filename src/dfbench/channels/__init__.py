"""Distribution channels (base.py): what a platform does to a file before a detector sees it,
one channel layer per file. A grid's ``[[channels]]`` entry is scored through
:func:`through_channel`: 8-bit rounding, then its layers in the order written."""

from ..defenses import defend
from ..detectors.base import Detector
from . import h264, jpeg, resize, rounding  # noqa: F401  (registration)
from .base import Channel, channels, register_channel
from .rounding import to_8bit

__all__ = ["Channel", "channel_layers", "channels", "create_channel", "register_channel", "through_channel",
           "to_8bit"]


def create_channel(name: str, **params) -> Channel:
    """An unattached channel layer by registered name."""
    return channels.create(name, **params)


def channel_layers(chain: tuple[tuple[str, dict], ...]) -> list[Channel]:
    """Fresh, unattached layers of a channel: 8-bit rounding, then ``chain``'s in reading order."""
    return [create_channel("8bit"), *(create_channel(name, **params) for name, params in chain)]


def through_channel(detector: Detector, chain: tuple[tuple[str, dict], ...]) -> Detector:
    """``detector`` behind the channel: 8-bit rounding, then ``chain``'s layers in reading order."""
    return defend(detector, *channel_layers(chain))
