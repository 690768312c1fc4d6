"""Attacks: one file per attack, private backend adapters (_torchattacks, _native)."""

from . import fgsm, pgd  # noqa: F401  (registration)
from .base import Attack, BudgetError, attacks, register_attack

__all__ = ["Attack", "BudgetError", "attacks", "register_attack", "create_attack"]


def create_attack(name: str, **kwargs) -> Attack:
    return attacks.create(name, **kwargs)
