// Requantisation of the integer contract (docs/integer_contract.md), one value per cycle, combinational:
//   x = acc + bias;  q = (x * m0 + 2^(shift-1) + frac) >>> shift   (round half up, arithmetic shift)
//   y = clamp ? min(max(q, 0), 2^out_bits - 1) : q                  (unclamped: a residual branch, int32)
// Every intermediate is wide enough to hold its exact value, so nothing wraps for any input; the
// contract's ranges (|m0| in [2^30, 2^31) or 0, shift in [1, 62], |frac| <= 2^30) keep y in OUT_W bits.
// Also the shortcut rescale (bias = frac = 0, unclamped) and the average pool (bias = frac = 0, clamped).
module requant_unit #(
    parameter ACC_W  = 32,   // accumulator input width
    parameter BIAS_W = 64,   // bias width (>= ACC_W)
    parameter OUT_W  = 32    // result width
) (
    input  wire signed [ACC_W-1:0]  acc,
    input  wire signed [BIAS_W-1:0] bias,
    input  wire signed [31:0]       m0,
    input  wire        [5:0]        shift,     // 1..62
    input  wire signed [31:0]       frac,
    input  wire                     clamp,
    input  wire        [3:0]        out_bits,  // clamp range [0, 2^out_bits - 1]
    output wire signed [OUT_W-1:0]  y
);
    localparam X_W = BIAS_W + 1;   // acc + bias
    localparam P_W = X_W + 32;     // (acc + bias) * m0
    localparam S_W = P_W + 1;      // + rounding constant + frac

    wire signed [X_W-1:0] x    = acc + bias;
    wire signed [P_W-1:0] prod = x * m0;
    wire        [S_W-1:0] one  = 1;
    wire signed [S_W-1:0] half = one << (shift - 6'd1);
    wire signed [S_W-1:0] sum  = prod + half + frac;
    wire signed [S_W-1:0] q    = sum >>> shift;

    wire signed [S_W-1:0] hi   = (one << out_bits) - one;
    wire signed [S_W-1:0] c    = (q < 0) ? 0 : (q > hi) ? hi : q;

    assign y = clamp ? c[OUT_W-1:0] : q[OUT_W-1:0];
endmodule
