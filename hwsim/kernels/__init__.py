"""Pure integer kernels of the integer contract (docs/integer_contract.md): numba inside, numpy arrays in/out.

Public wrappers validate and raise KernelInputError (a UserError) naming the bad value; the private
@njit kernels take only arrays and scalars. No IR objects, no torch.
"""
from ._check import KernelInputError
from .conv import conv2d_acc, im2col, linear_acc, matmul_acc, weight_matrix
from .conv_requant import conv2d_requant, conv2d_requant_add
from .pool import global_sum, maxpool2d
from .add import add_clamp, add_rescaled, add_round_clamp
from .nhwc import PaddedNHWC, as_nchw, value_range_of
from .requant import RequantParams, requant_params, requantize, requantize_ranged, rescale, rq, rq_bounds

__all__ = ["KernelInputError", "conv2d_acc", "conv2d_requant", "linear_acc", "matmul_acc", "im2col", "weight_matrix",
           "requantize", "requantize_ranged", "requant_params", "RequantParams", "rescale", "rq",
           "rq_bounds", "add_clamp", "add_rescaled", "add_round_clamp", "maxpool2d", "global_sum",
           "PaddedNHWC", "as_nchw", "value_range_of", "conv2d_requant_add"]
