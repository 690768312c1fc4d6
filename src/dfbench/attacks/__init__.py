"""Attacks: one file per attack; private backend adapters _torchattacks, _art, _foolbox, _native."""

from . import apgd, cw, fgsm, pgd, square, transfer, worst_case  # noqa: F401  (registration)
from .base import Attack, AttackKind, BudgetError, Cost, attacks, register_attack

__all__ = ["Attack", "AttackKind", "BudgetError", "Cost", "attacks", "register_attack", "create_attack"]


def create_attack(name: str, **kwargs) -> Attack:
    return attacks.create(name, **kwargs)
