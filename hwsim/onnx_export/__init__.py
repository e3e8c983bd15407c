"""The integer model at one bit config as an integer-only ONNX graph (onnx.helper; no torch).

ConvInteger / MatMulInteger give the accumulators; the requantisation, residual add and pools are integer
ops (int64 Mul/Add, floor division as (v - Mod(v, d)) / d, Max/Min clamps), so onnxruntime reproduces the
simulator code for code. Every IR tensor is int32 between ops; the network input is uint8.
"""
from .build import OnnxExportError, build_onnx, save_onnx

__all__ = ["OnnxExportError", "build_onnx", "save_onnx"]
