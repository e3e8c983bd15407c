"""quantnet: the torch side of the Bit-Mixer framework (quantisers, meta-network, training, export)."""
__version__ = "0.1.0"
