"""A small ONNX graph builder: unique node and constant names, dtype casts made once per tensor."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

DTYPES = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
          np.dtype(np.int32): TensorProto.INT32, np.dtype(np.int64): TensorProto.INT64}


class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits = [], []
        self._n = 0
        self._casts: dict[tuple[str, int], str] = {}

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, value) -> str:
        """An initializer holding `value` (a numpy array of one of DTYPES)."""
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op_type: str, inputs: list[str], hint: str, output: str | None = None, **attrs) -> str:
        out = output or self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh(f"{hint}/{op_type}"), **attrs))
        return out

    def cast(self, name: str, to: int) -> str:
        """`name` cast to ONNX type `to` (one Cast node per tensor and type)."""
        key = (name, to)
        if key not in self._casts:
            self._casts[key] = self.node("Cast", [name], f"{name}/cast", to=to)
        return self._casts[key]
