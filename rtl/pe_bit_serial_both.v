// Bit-serial-both lane (Loom): one (activation bit i, weight bit j) pair per cycle, a_bits * w_bits cycles
// per MAC. The weight is two's complement at w_bits: its top bit j = w_bits - 1 weighs -2^j.
//   acc += (a[i] & w[j]) ? +-2^(i+j) : 0
// Interface as pe_bit_serial_act.
module pe_bit_serial_both #(
    parameter A_MAX = 8,
    parameter W_MAX = 8,
    parameter ACC_W = 32
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    clear,
    input  wire                    start,
    input  wire        [A_MAX-1:0] a,
    input  wire signed [W_MAX-1:0] w,
    input  wire        [3:0]       a_bits,
    input  wire        [3:0]       w_bits,
    output reg  signed [ACC_W-1:0] acc,
    output reg                     busy
);
    reg        [A_MAX-1:0] a_r;
    reg        [W_MAX-1:0] w_r;
    reg        [3:0]       i, j, na, nw;
    wire        [ACC_W-1:0] one  = 1;
    wire signed [ACC_W-1:0] mag  = one << (i + j);
    wire                    bit_on = a_r[i] & w_r[j];
    wire signed [ACC_W-1:0] term = !bit_on ? {ACC_W{1'b0}} : (j == nw - 4'd1) ? -mag : mag;

    always @(posedge clk) begin
        if (rst) begin
            acc <= 0; busy <= 1'b0; i <= 0; j <= 0; na <= 0; nw <= 0;
        end else if (busy) begin
            acc <= acc + term;
            if (j + 4'd1 == nw) begin
                j <= 0;
                i <= i + 4'd1;
                if (i + 4'd1 == na) busy <= 1'b0;
            end else begin
                j <= j + 4'd1;
            end
        end else begin
            if (clear) acc <= 0;
            if (start) begin
                a_r <= a; w_r <= w; i <= 0; j <= 0; na <= a_bits; nw <= w_bits;
                busy <= (a_bits != 4'd0) && (w_bits != 4'd0);
            end
        end
    end
endmodule
