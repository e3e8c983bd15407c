"""Array organisations, registered by name (the `array.organisation` of a hardware config)."""
from __future__ import annotations

from ...registry import Registry
from .base import OPTIONAL_PARAMS, Organisation, StepPlan
from .bitfusion import BitFusion
from .row_stationary import RowStationary
from .systolic import Systolic
from .tiled import Tiled

ORGANISATIONS = Registry("array organisation")


def register_organisation(org: Organisation) -> Organisation:
    """Make `org` (an Organisation instance) the one answering to `org.name` in hardware configs."""
    if not isinstance(org, Organisation) or any(p not in OPTIONAL_PARAMS for p in org.params):
        raise ValueError(f"{org!r} is not an Organisation using only {OPTIONAL_PARAMS}")
    return ORGANISATIONS.register(org.name, org)


def get_organisation(name: str) -> Organisation:
    return ORGANISATIONS.lookup(name)


for _org in (Systolic(), BitFusion(), Tiled(), RowStationary()):
    register_organisation(_org)

__all__ = ["ORGANISATIONS", "Organisation", "StepPlan", "get_organisation", "register_organisation"]
