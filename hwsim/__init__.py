"""hwsim: integer model IR, bit-exact fixed-point simulator and accelerator cost models (numpy/numba; no torch)."""
__version__ = "0.1.0"
