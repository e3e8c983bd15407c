"""FracBits (Yang & Jin, AAAI 2021): learned fractional per-layer bit-widths under a cost budget."""
