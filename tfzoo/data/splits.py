"""Seeded, stratified train/validation splits of labelled examples."""

from __future__ import annotations

import numpy as np
from absl import logging
from sklearn.model_selection import train_test_split

from tfzoo.errors import UsageError


def check_val_fraction(val_fraction: float) -> None:
    """Raises `UsageError` unless ``0 < val_fraction < 1``."""
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Splits example indices into train and val, keeping class proportions.

    Uses scikit-learn's ``train_test_split(stratify=labels,
    random_state=seed)``, so one seed always gives the same split. When a
    class is too small to stratify (fewer than two examples, or fewer val
    slots than classes) the split falls back to an unstratified shuffle and
    logs a warning.

    Args:
        labels: int array ``[N]``.
        val_fraction: Fraction of examples held out for validation.
        seed: Random state of the split.

    Returns:
        ``(train_indices, val_indices)``, int64 arrays in the split's order.

    Raises:
        UsageError: If `val_fraction` is outside (0, 1) or there are too few
            examples to leave one in each split.
    """
    check_val_fraction(val_fraction)
    labels = np.asarray(labels)
    indices = np.arange(len(labels), dtype=np.int64)
    try:
        train, val = train_test_split(indices, test_size=val_fraction, stratify=labels, random_state=seed)
    except ValueError as stratify_error:
        logging.warning("cannot stratify the train/val split (%s); using an unstratified split", stratify_error)
        try:
            train, val = train_test_split(indices, test_size=val_fraction, random_state=seed)
        except ValueError as error:
            raise UsageError(
                f"cannot split {len(labels)} examples with val_fraction {val_fraction}: {error}"
            ) from error
    return np.asarray(train, np.int64), np.asarray(val, np.int64)
