"""Audits of a robustness number: could the attacks have succeeded? (the binarization test)."""

from .binarization import PASS_UPPER, BinarizationResult, Binarized, NotAuditable, binarization_test
from .run import Audit, audit_grid

__all__ = ["PASS_UPPER", "Audit", "Binarized", "BinarizationResult", "NotAuditable", "audit_grid",
           "binarization_test"]
