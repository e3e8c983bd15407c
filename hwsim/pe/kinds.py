"""The four PE kinds: bit-parallel (TPU-like), bit-serial activations (Stripes), bit-serial both
(Loom), fused 2x2-bit bricks (Bit Fusion)."""
from __future__ import annotations

from ..errors import HwConfigError
from .base import PEKind, add_pj, mult_pj, n_digits


class BitParallel(PEKind):
    """A w_bits_max x a_bits_max multiplier: one MAC per cycle, no gain from narrower operands."""
    name = "bit_parallel"

    def steps(self, pe, w, a):
        return 1

    def digits(self, pe, w, a):
        return a, w

    def mac_energy_pj(self, pe, energy, w, a):
        # the full-width multiplier toggles whatever the operands' nominal width
        return mult_pj(energy, pe.w_bits_max, pe.a_bits_max) + add_pj(energy, pe.accumulator_bits)


class BitSerialActivations(PEKind):
    """Stripes: weights bit-parallel, activations one bit-plane per cycle (cycles ~ a_bits)."""
    name = "bit_serial_act"
    supports_skipping = True

    def steps(self, pe, w, a):
        return a

    def skipped_steps(self, pe, w, a, nonzero_a_digits):
        return nonzero_a_digits

    def digits(self, pe, w, a):
        return 1, w

    def mac_energy_pj(self, pe, energy, w, a):
        # per plane: a w x 1 AND array and a shift-add at the partial-sum width
        return a * (mult_pj(energy, w, 1) + add_pj(energy, pe.partial_sum_bits))


class BitSerialBoth(PEKind):
    """Loom: both operands bit-serial, one (activation plane, weight plane) pair per cycle."""
    name = "bit_serial_both"
    supports_skipping = True

    def steps(self, pe, w, a):
        return w * a

    def skipped_steps(self, pe, w, a, nonzero_a_digits):
        return nonzero_a_digits * w

    def digits(self, pe, w, a):
        return 1, 1

    def mac_energy_pj(self, pe, energy, w, a):
        return w * a * (mult_pj(energy, 1, 1) + add_pj(energy, pe.partial_sum_bits))


class FusedBricks(PEKind):
    """Bit Fusion: a fusion unit of (w_max/2)x(a_max/2) 2x2-bit BitBricks; a MAC at (w, a) uses
    ceil(w/2)*ceil(a/2) bricks, so the unit runs 16 // bricks MACs of one dot product per cycle."""
    name = "fused_bricks"
    BRICK = 2

    def check_config(self, pe, where):
        super().check_config(pe, where)
        if pe.w_bits_max % self.BRICK or pe.a_bits_max % self.BRICK:
            raise HwConfigError(f"{where}: fused_bricks needs w_bits_max and a_bits_max multiples of {self.BRICK}, "
                            f"got {pe.w_bits_max} and {pe.a_bits_max}")

    def bricks(self, w, a):
        return n_digits(w, self.BRICK) * n_digits(a, self.BRICK)

    def unit_bricks(self, pe):
        return self.bricks(pe.w_bits_max, pe.a_bits_max)

    def lanes(self, pe, w, a):
        return self.unit_bricks(pe) // self.bricks(w, a)

    def steps(self, pe, w, a):
        return 1

    def digits(self, pe, w, a):
        return self.BRICK, self.BRICK

    def mac_energy_pj(self, pe, energy, w, a):
        # each brick: a 2x2 multiply and a leaf add (~8 bits) of the shift-add tree;
        # one accumulator add per cycle shared by the unit's lanes
        b = self.bricks(w, a)
        return b * (mult_pj(energy, 2, 2) + add_pj(energy, 8)) + add_pj(energy, pe.accumulator_bits) / self.lanes(pe, w, a)
