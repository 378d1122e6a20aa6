"""Fixtures shared by the unit tests (the root conftest.py holds the suite-wide ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_engine() -> Iterator[None]:
    """quantize_static/prepare_qat/quantize_dynamic set the global engine on purpose; undo it."""
    previous = torch.backends.quantized.engine
    yield
    torch.backends.quantized.engine = previous
