"""PE kinds, registered by name (the `pe.kind` of a hardware config)."""
from __future__ import annotations

from ..errors import UserError
from .base import PEKind
from .kinds import BitParallel, BitSerialActivations, BitSerialBoth, FusedBricks

PE_KINDS: dict[str, PEKind] = {k.name: k for k in (BitParallel(), BitSerialActivations(), BitSerialBoth(),
                                                    FusedBricks())}


def get_pe_kind(name: str) -> PEKind:
    try:
        return PE_KINDS[name]
    except KeyError:
        raise UserError(f"unknown PE kind {name!r}; known: {sorted(PE_KINDS)}") from None
