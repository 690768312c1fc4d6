"""Defenses: wrappers that are themselves Detectors (see base.py)."""

from .base import Defense, defend, defenses, register_defense

__all__ = ["Defense", "defend", "defenses", "register_defense"]
