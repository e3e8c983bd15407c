// Bit-serial activation lane (Stripes): the weight is bit-parallel, the activation code is consumed one
// bit-plane per cycle, low bit first: acc += a[i] ? (w << i) : 0 for i < a_bits (a_bits cycles per MAC).
// Interface shared by the PEs: `start` (while !busy) latches one (a, w) pair; `clear` zeroes acc.
module pe_bit_serial_act #(
    parameter A_MAX = 8,    // widest activation code (unsigned)
    parameter W_MAX = 8,    // widest weight code (signed)
    parameter ACC_W = 32
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    clear,
    input  wire                    start,
    input  wire        [A_MAX-1:0] a,
    input  wire signed [W_MAX-1:0] w,
    input  wire        [3:0]       a_bits,
    input  wire        [3:0]       w_bits,   // unused: the weight is bit-parallel
    output reg  signed [ACC_W-1:0] acc,
    output reg                     busy
);
    reg        [A_MAX-1:0] a_r;
    reg signed [W_MAX-1:0] w_r;
    reg        [3:0]       i, n;
    wire signed [ACC_W-1:0] w_ext = w_r;                          // sign-extended
    wire signed [ACC_W-1:0] term  = a_r[i] ? (w_ext <<< i) : {ACC_W{1'b0}};

    always @(posedge clk) begin
        if (rst) begin
            acc <= 0; busy <= 1'b0; i <= 0; n <= 0;
        end else if (busy) begin
            acc <= acc + term;
            i <= i + 4'd1;
            if (i + 4'd1 == n) busy <= 1'b0;
        end else begin
            if (clear) acc <= 0;
            if (start) begin
                a_r <= a; w_r <= w; i <= 0; n <= a_bits; busy <= (a_bits != 4'd0);
            end
        end
    end
endmodule
