"""The PE-kind interface: what one processing element does per multiply-accumulate.

A PE kind answers four questions at a (w_bits, a_bits) pair, and nothing else:
  lanes    how many MACs of one dot product it performs side by side in one step (a fused unit
           splits its bricks into several narrow multipliers; 1 for the others)
  steps    cycles one step takes (bit-serial designs loop over operand bit-planes)
  digits   its arithmetic decomposition: activation and weight digit widths (1 = bit-planes,
           2 = Bit Fusion bricks, the full width = a plain multiplier)
  energy   pJ per MAC from the per-action table of the config
The array mapping (hwsim.dataflow.mapping) turns lanes and steps into cycles; the functional
simulator (hwsim.pe.sim) performs the decomposition (hwsim.pe.digits).
"""
from __future__ import annotations

from math import ceil

from ..errors import HwConfigError, UserError


class PEKind:
    name = ""
    energy_actions: tuple[str, ...] = ("mult_8b_pj", "add_32b_pj", "reg_pj_per_bit")
    supports_skipping = False        # zero activation digit-planes can be skipped

    # ---- precision ------------------------------------------------------------------------
    def check_config(self, pe, where: str) -> None:
        """Reject kind-specific impossible parameters (the config loader calls this)."""
        if pe.accumulator_bits < pe.partial_sum_bits:
            raise HwConfigError(f"{where}: accumulator_bits ({pe.accumulator_bits}) must be >= "
                            f"partial_sum_bits ({pe.partial_sum_bits})")
        if pe.zero_plane_skipping and not self.supports_skipping:
            raise HwConfigError(f"{where}.zero_plane_skipping: PE kind {self.name!r} has no zero-plane skipping")

    def check_bits(self, pe, w: int, a: int) -> None:
        if not (1 <= w <= pe.w_bits_max and 1 <= a <= pe.a_bits_max):
            raise UserError(f"PE kind {self.name!r} supports w_bits <= {pe.w_bits_max} and a_bits <= "
                            f"{pe.a_bits_max}, got w{w}a{a}")

    # ---- cost -----------------------------------------------------------------------------
    def lanes(self, pe, w: int, a: int) -> int:
        return 1

    def steps(self, pe, w: int, a: int) -> int:
        raise NotImplementedError

    def skipped_steps(self, pe, w: int, a: int, nonzero_a_digits: int) -> int:
        """Cycles of one step when only `nonzero_a_digits` activation digits are non-zero in its lane group."""
        return self.steps(pe, w, a)

    def digits(self, pe, w: int, a: int) -> tuple[int, int]:
        """(activation digit bits, weight digit bits) of the decomposition."""
        raise NotImplementedError

    def mac_energy_pj(self, pe, energy, w: int, a: int) -> float:
        raise NotImplementedError

    def reg_bits_per_mac(self, pe, w: int, a: int) -> float:
        """PE-local register traffic per MAC: both operands latched, partial sum read and written."""
        return w + a + 2 * pe.partial_sum_bits / self.lanes(pe, w, a)


def mult_pj(energy, w: int, a: int) -> float:
    """Multiplier energy scales with the product of operand widths (Horowitz: 0.2 pJ at 8x8)."""
    return energy["mult_8b_pj"] * w * a / 64.0


def add_pj(energy, bits: int) -> float:
    """Adder energy scales with its width (Horowitz: 0.1 pJ at 32 bits)."""
    return energy["add_32b_pj"] * bits / 32.0


def n_digits(bits: int, d: int) -> int:
    return ceil(bits / d)
