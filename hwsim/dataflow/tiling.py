"""A layer's DRAM traffic under buffer capacities: tiles, a loop order, and what each tensor re-fetches.

As the Bit Fusion artifact tiles a layer (github.com/hsharma35/bitfusion, bitfusion/src/optimizer/optimizer.py):
five tile loops, over batch (b), output rows (oh), output columns (ow), input channels (ic) and output
channels (oc) of one group, the kernel never tiled; tile sizes powers of two (oh and ow tiles equal), each
tensor's tile at most half its buffer share (double buffering); every loop order and tile size tried, the
fastest kept (then the one moving fewest DRAM bits). Fastest counts the array, DRAM and each buffer's
bandwidth (its own traffic plus the fills); the artifact counts only the array and DRAM.

Each tensor is held in a block: the innermost loops whose data together fit its half buffer (a loop that
does not index the tensor costs no room). The block is loaded once per iteration of the loops outside it,
so a tensor's DRAM bits are its size x the trip counts of the outer loops that do not index it:
  weights   re-read per outer b, oh, ow tile;  inputs  re-read per outer oc tile (a tile's input rows
            with their halo, clipped to the image, distinct rows once per block)
  outputs   when the ic loop is outside their block, partial sums leave at the accumulator width and come
            back once per further ic tile; the final values leave once at the output width (read_fresh: every
            block is also read in before its first accumulation, as the artifact does)
The first blocks of weights and inputs are loaded and the last block of outputs stored while the array
waits (`exposed` cycles); the rest overlaps compute. A first layer that the organisation reads im2col-expanded
(Bit Fusion's, as the artifact's CPU lays it out) has kh x kw copies of each input pixel, no halo shared.
Where the artifact differs: it pads weight tiles to the array's rows and output tiles to its columns, counts
edge tiles and halos at full size, and tiles output channels in multiples of the columns.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .mapping import ceil_div

LOOPS = ("b", "oh", "ow", "ic", "oc")
INDEXED_BY = {"weights": ("ic", "oc"), "inputs": ("b", "oh", "ow", "ic"), "outputs": ("b", "oh", "ow", "oc")}
ORDERS = np.array(list(itertools.permutations(range(len(LOOPS)))))   # outer -> inner loop indices


@dataclass(frozen=True)
class Extent:
    """One loop dimension of one tensor at one tile size: tile count, elements summed over the tiles, the
    largest tile's elements, and the elements all tiles touch together (less than the sum where halos overlap)."""
    count: int
    total: int
    largest: int
    union: int


def plain_extent(size: int, tile: int) -> Extent:
    return Extent(ceil_div(size, tile), size, min(tile, size), size)


def window_rows(starts, length: int, stride: int, kernel: int, pad: int, size: int) -> set:
    """Input rows (or columns) that outputs starts .. starts+length-1 read, inside the image."""
    return {r for o in range(starts, starts + length) for r in range(o * stride - pad, o * stride - pad + kernel)
            if 0 <= r < size}


@functools.lru_cache(maxsize=4096)
def input_extent(out: int, tile: int, stride: int, kernel: int, pad: int, size: int, im2col: bool) -> Extent:
    """Input rows of the output-row tiles of `tile` rows (the same for columns)."""
    lengths = [min(tile, out - o0) for o0 in range(0, out, tile)]
    if im2col:               # every output row has its own kernel rows
        return Extent(len(lengths), out * kernel, max(lengths) * kernel, out * kernel)
    rows = [len(window_rows(o0, n, stride, kernel, pad, size)) for o0, n in zip(range(0, out, tile), lengths)]
    return Extent(len(lengths), sum(rows), max(rows), len(window_rows(0, out, stride, kernel, pad, size)))


def tile_sizes(size: int) -> list[int]:
    """1, 2, 4, ... up to `size` (the last clipped to it), as the artifact's optimizer tries them."""
    return sorted({min(1 << i, size) for i in range(max(size - 1, 1).bit_length() + 1)})


@dataclass(frozen=True)
class Tiling:
    """The chosen tiles and loop order and the DRAM bits they move (one group; costmodel scales by groups)."""
    tiles: dict
    order: tuple
    weights: int          # bits read
    inputs: int           # bits read
    outputs_in: int       # partial-sum bits read back
    outputs_out: int      # partial-sum and final bits written
    exposed: int          # cycles no compute overlaps: the first blocks' load, the last output block's store


def layer_extents(s, tiles: dict, im2col: bool) -> dict:
    """Per tensor, per loop: its Extent at `tiles` (loop -> tile size); a loop not indexing a tensor is absent."""
    cg, ng = s.in_ch // s.groups, s.out_ch // s.groups
    plain = {"b": plain_extent(s.batch, tiles["b"]), "oh": plain_extent(s.out_h, tiles["oh"]),
             "ow": plain_extent(s.out_w, tiles["ow"]), "ic": plain_extent(cg, tiles["ic"]),
             "oc": plain_extent(ng, tiles["oc"])}
    inputs = {**plain, "oh": input_extent(s.out_h, tiles["oh"], s.stride, s.kh, s.padding, s.in_h, im2col),
              "ow": input_extent(s.out_w, tiles["ow"], s.stride, s.kw, s.padding, s.in_w, im2col)}
    return {"weights": {d: plain[d] for d in INDEXED_BY["weights"]},
            "inputs": {d: inputs[d] for d in INDEXED_BY["inputs"]},
            "outputs": {d: plain[d] for d in INDEXED_BY["outputs"]}}


def candidates(s) -> list[dict]:
    """Every tile combination the search tries (oh and ow tiles of the same power of two)."""
    sizes = {"b": tile_sizes(s.batch), "o": tile_sizes(max(s.out_h, s.out_w)),
             "ic": tile_sizes(s.in_ch // s.groups), "oc": tile_sizes(s.out_ch // s.groups)}
    return [{"b": b, "oh": min(o, s.out_h), "ow": min(o, s.out_w), "ic": ic, "oc": oc}
            for b, o, ic, oc in itertools.product(sizes["b"], sizes["o"], sizes["ic"], sizes["oc"])]


def _grids(s, combos: list[dict], im2col: bool):
    """Per tensor and loop, (count, total, largest, union) rows over `combos`; per loop, its tile counts."""
    ext = [layer_extents(s, t, im2col) for t in combos]
    grid = {op: {d: np.array([[getattr(e[op][d], f) for f in ("count", "total", "largest", "union")] for e in ext],
                             np.int64).T for d in dims} for op, dims in INDEXED_BY.items()}
    counts = {d: np.array([e[op][d].count for e in ext], np.int64) for op, dims in INDEXED_BY.items() for d in dims}
    return grid, counts


def tensor_traffic(op: str, grid: dict, counts: dict, order_pos: np.ndarray, per_elem: int, cap: int):
    """(elements moved over the layer, its outer non-indexing trip count, largest block bits, fits) per order
    x combination. order_pos[o, l]: the depth of loop l in order o (0 outermost)."""
    dims, grid = INDEXED_BY[op], grid[op]
    idx = [LOOPS.index(d) for d in dims]

    def footprint(inner: int):
        fp = np.full((len(order_pos), grid[dims[0]].shape[1]), per_elem, np.int64)
        for d, li in zip(dims, idx):
            inside = order_pos[:, li:li + 1] >= len(LOOPS) - inner
            fp = fp * np.where(inside, grid[d][3], grid[d][2])
        return fp

    fits = footprint(0) <= cap
    inner = np.zeros(fits.shape, np.int64)
    block = footprint(0)
    for j in range(1, len(LOOPS) + 1):       # the block grows while its data fit (footprints never shrink)
        fp = footprint(j)
        grow = np.logical_and(fp <= cap, inner == j - 1)
        inner = np.where(grow, j, inner)
        block = np.where(grow, fp, block)
    elems = np.ones(fits.shape, np.int64)
    refetch = np.ones(fits.shape, np.int64)
    for li, d in enumerate(LOOPS):
        inside = order_pos[:, li:li + 1] >= len(LOOPS) - inner
        if d in dims:
            elems = elems * np.where(inside, grid[d][3], grid[d][1])
        else:
            refetch = refetch * np.where(inside, 1, counts[d])
    return elems, refetch, block, fits


def evaluate(s, combos: list[dict], orders: np.ndarray, caps: tuple[int, int, int], bandwidth: int, compute: int,
             im2col: bool, w: int, a: int, o: int, acc: int, read_fresh: bool, levels: tuple = (),
             onchip: tuple = ()) -> dict:
    """Per order x combination: DRAM bits by operand, exposed and total cycles, and whether every tile fits.
    orders: rows of loop indices, outer to inner. levels: per buffer, ((holds weights, inputs, outputs),
    bits per cycle), and onchip its traffic besides the DRAM fills and drains, for its cycles."""
    grid, counts = _grids(s, combos, im2col)
    pos = np.argsort(orders, axis=1)         # pos[o, loop] = depth
    w_el, w_ref, w_blk, w_fit = tensor_traffic("weights", grid, counts, pos, s.kh * s.kw * w, caps[0])
    i_el, i_ref, i_blk, i_fit = tensor_traffic("inputs", grid, counts, pos, a, caps[1])
    o_el, o_ref, o_blk, o_fit = tensor_traffic("outputs", grid, counts, pos, acc, caps[2])
    spills = o_el * (o_ref - 1) * acc
    r = {"weights": s.kh * s.kw * w * w_el * w_ref, "inputs": a * i_el * i_ref,
         "outputs_in": spills + (o_el * acc if read_fresh else 0), "outputs_out": spills + o_el * o,
         "exposed": ceil_div(w_blk + i_blk, bandwidth) + ceil_div(o_blk // acc * o, bandwidth),
         "fits": w_fit & i_fit & o_fit}
    r["total"] = r["weights"] + r["inputs"] + r["outputs_in"] + r["outputs_out"]
    r["cycles"] = np.maximum(compute + r["exposed"], ceil_div(r["total"], bandwidth))
    fills = (r["weights"], r["inputs"], r["outputs_in"] + r["outputs_out"])
    for (holds, bits_per_cycle), own in zip(levels, onchip):
        level = own + sum(f for f, held in zip(fills, holds) if held)
        r["cycles"] = np.maximum(r["cycles"], ceil_div(level, bits_per_cycle))
    return r


def _tiling(r: dict, tiles: dict, order: tuple, oi: int, ci: int) -> Tiling:
    return Tiling(tiles, order, *(int(r[k][oi, ci]) for k in ("weights", "inputs", "outputs_in", "outputs_out",
                                                              "exposed")))


def tiling_traffic(s, tiles: dict, order: tuple, caps: tuple[int, int, int], bandwidth: int, compute: int,
                   im2col: bool, w: int, a: int, o: int, acc: int, read_fresh: bool = False) -> Tiling | None:
    """The DRAM bits of one tiling (loop -> tile size; order: loop names outer to inner); None if a tile
    does not fit."""
    r = evaluate(s, [tiles], np.array([[LOOPS.index(d) for d in order]]), caps, bandwidth, compute, im2col,
                 w, a, o, acc, read_fresh)
    return _tiling(r, tiles, tuple(order), 0, 0) if r["fits"][0, 0] else None


@functools.lru_cache(maxsize=4096)
def choose_tiling(s, caps: tuple[int, int, int], bandwidth: int, compute: int, im2col: bool,
                  w: int, a: int, o: int, acc: int, read_fresh: bool = False, levels: tuple = (),
                  onchip: tuple = ()) -> Tiling:
    """The fastest tiling of one group of layer `s` at (w, a, o) bits, fewest DRAM bits among equals.
    caps: half of the (weights, inputs, outputs) buffer shares in bits; compute: the array's cycles;
    read_fresh: every output block is read from DRAM before its first accumulation too; levels, onchip:
    the buffers whose bandwidth the fills share (evaluate)."""
    combos = candidates(s)
    r = evaluate(s, combos, ORDERS, caps, bandwidth, compute, im2col, w, a, o, acc, read_fresh, levels, onchip)
    if not r["fits"].any():
        raise UserError(f"layer {s.name!r}: no tile fits the buffers at w={w} a={a} bits "
                        f"(half-buffer capacities {caps} bits)")
    big = np.iinfo(np.int64).max
    cycles, total = np.where(r["fits"], r["cycles"], big), np.where(r["fits"], r["total"], big)
    oi, ci = np.unravel_index(np.lexsort((total.ravel(), cycles.ravel()))[0], cycles.shape)
    return _tiling(r, combos[ci], tuple(LOOPS[i] for i in ORDERS[oi]), oi, ci)
