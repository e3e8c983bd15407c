// Nested weight codes (docs/integer_contract.md, "Nested weight codes"), combinational: the code at
// to_bits derived from the stored widest code q at from_bits, k = from_bits - to_bits:
//   w = clamp((q + 2^(k-1) - [q < 0]) >>> k, -(2^(to_bits-1) - 1), 2^(to_bits-1) - 1)     (k = 0: w = q)
// q / 2^k rounded half away from zero: one add of a sign-dependent constant, an arithmetic shift, a clamp.
module nested_weight (
    input  wire signed [7:0] q,          // stored code at from_bits, |q| <= 2^(from_bits-1) - 1
    input  wire        [3:0] from_bits,  // 2..8
    input  wire        [3:0] to_bits,    // 2..from_bits
    output wire signed [7:0] w
);
    wire        [3:0] k    = from_bits - to_bits;
    wire signed [9:0] one  = 10'sd1;
    wire signed [9:0] half = (k == 0) ? 10'sd0 : (one <<< (k - 4'd1));
    wire signed [9:0] sum  = q + half - (q[7] && k != 0 ? one : 10'sd0);
    wire signed [9:0] r    = sum >>> k;
    wire signed [9:0] qp   = (one <<< (to_bits - 4'd1)) - one;
    wire signed [9:0] c    = (r > qp) ? qp : (r < -qp) ? -qp : r;
    assign w = c[7:0];
endmodule
