// The residual add of the integer contract: two branches in one scale with frac_bits fractional bits,
// summed exactly, rounded half up once, then clamped to the output codes:
//   y = clamp((a + b + 2^(F-1)) >>> F, 0, 2^out_bits - 1)     (F = 0: clamp(a + b, ...))
module residual_add #(
    parameter IN_W  = 32,
    parameter OUT_W = 32
) (
    input  wire signed [IN_W-1:0]  a,
    input  wire signed [IN_W-1:0]  b,
    input  wire        [4:0]       frac_bits,  // F, 0..24
    input  wire        [3:0]       out_bits,
    output wire signed [OUT_W-1:0] y
);
    localparam S_W = IN_W + 2;
    wire        [S_W-1:0] one  = 1;
    wire signed [S_W-1:0] s    = a + b;
    wire signed [S_W-1:0] half = (frac_bits == 5'd0) ? 0 : (one << (frac_bits - 5'd1));
    wire signed [S_W-1:0] q    = (s + half) >>> frac_bits;
    wire signed [S_W-1:0] hi   = (one << out_bits) - one;
    wire signed [S_W-1:0] c    = (q < 0) ? 0 : (q > hi) ? hi : q;
    assign y = c[OUT_W-1:0];
endmodule
