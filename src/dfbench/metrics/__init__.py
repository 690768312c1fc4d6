"""Metrics: a leaf package (torch, scipy, scikit-image; nothing else of dfbench).

- ``classification``: accuracy, AUC, precision, recall, F1, evasion rate, threshold calibration.
- ``perturbation``: per-sample norms, SSIM and PSNR of a perturbation.
- ``cell``: the numbers of a grid cell, each declared once (:data:`METRICS`).
- ``intervals``: Wilson intervals on rates, bootstrap intervals on AUCs, the equal error rate (scipy).
"""

from .cell import ENTRY_METRICS, METRIC_NAMES, METRICS, CellData, FrameScores, Metric, compute_metrics
from .classification import best_threshold, classification_metrics, evasion_rate, roc_auc
from .perturbation import perturbation_norms, perturbation_quality

__all__ = ["ENTRY_METRICS", "METRICS", "METRIC_NAMES", "CellData", "FrameScores", "Metric", "best_threshold",
           "classification_metrics", "compute_metrics", "evasion_rate", "perturbation_norms", "perturbation_quality",
           "roc_auc"]
