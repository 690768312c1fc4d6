"""Hugging Face ``transformers`` image classifiers from a local folder: polarity from their labels,
preprocessing from their processor config, both inside the Detector."""

from .detector import HuggingFaceClassifier, folder_digest, load_huggingface

__all__ = ["HuggingFaceClassifier", "folder_digest", "load_huggingface"]
