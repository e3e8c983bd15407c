"""A slow, obvious count of a tiled loop nest's DRAM traffic (tests only): every tile of every loop is walked
in the given order; each tensor's block (the innermost loops whose elements, enumerated one by one, fit its
capacity at every position) is loaded whenever the loops outside it move on; its elements are listed as
index tuples and counted, outputs visit by visit."""
from __future__ import annotations

import itertools
from collections import Counter


def _ranges(size: int, tile: int) -> list[range]:
    return [range(t0, min(t0 + tile, size)) for t0 in range(0, size, tile)]


def _elements(s, op: str, ranges: dict, im2col: bool) -> set:
    """Index tuples of `op` that the tiles `ranges` (loop -> list of index ranges, all combined) touch."""
    pick = {d: [i for r in rs for i in r] for d, rs in ranges.items()}
    if op == "weights":
        return {(c, n, t) for c in pick["ic"] for n in pick["oc"] for t in range(s.kh * s.kw)}
    if op == "outputs":
        return {(b, n, y, x) for b in pick["b"] for n in pick["oc"] for y in pick["oh"] for x in pick["ow"]}
    out = set()
    for b, c, y, x in itertools.product(pick["b"], pick["ic"], pick["oh"], pick["ow"]):
        for ky, kx in itertools.product(range(s.kh), range(s.kw)):
            iy, ix = y * s.stride - s.padding + ky, x * s.stride - s.padding + kx
            if im2col:
                out.add((b, c, y, x, ky, kx))
            elif 0 <= iy < s.in_h and 0 <= ix < s.in_w:
                out.add((b, c, iy, ix))
    return out


def naive_traffic(s, tiles: dict, order: tuple, caps: dict, bits: dict, im2col: bool = False,
                  read_fresh: bool = False) -> dict:
    """DRAM bits of one group (groups == 1) of layer `s`: tiles (loop -> size), order (loops, outer to inner),
    caps and bits per operand (outputs: accumulator width on chip; `bits["final"]` the width they leave at)."""
    sizes = {"b": s.batch, "oh": s.out_h, "ow": s.out_w, "ic": s.in_ch, "oc": s.out_ch}
    tiles_of = {d: _ranges(sizes[d], tiles[d]) for d in order}
    blocks = {}
    for op in ("weights", "inputs", "outputs"):
        inner = -1
        for j in range(len(order) + 1):         # grow the block inwards-out while every instance fits
            outer, inside = order[:len(order) - j], order[len(order) - j:]
            largest = max(len(_elements(s, op, {**{d: [tiles_of[d][i]] for d, i in zip(outer, pos)},
                                                **{d: tiles_of[d] for d in inside}}, im2col))
                          for pos in itertools.product(*(range(len(tiles_of[d])) for d in outer)))
            if largest * bits[op] > caps[op]:
                break
            inner = j
        if inner < 0:
            raise ValueError(f"{op}: one tile does not fit")
        blocks[op] = inner
    moved = Counter()
    visits = Counter()
    last = {}
    for pos in itertools.product(*(range(len(tiles_of[d])) for d in order)):
        for op, inner in blocks.items():
            key = pos[:len(order) - inner]
            if last.get(op) == key:
                continue
            last[op] = key
            outer, inside = order[:len(order) - inner], order[len(order) - inner:]
            elems = _elements(s, op, {**{d: [tiles_of[d][i]] for d, i in zip(outer, key)},
                                      **{d: tiles_of[d] for d in inside}}, im2col)
            if op == "outputs":
                visits.update(elems)
            else:
                moved[op] += len(elems) * bits[op]
    acc, final = bits["outputs"], bits["final"]
    moved["outputs_in"] = sum((v - 1 + read_fresh) * acc for v in visits.values())
    moved["outputs_out"] = sum((v - 1) * acc + final for v in visits.values())
    return dict(moved)
