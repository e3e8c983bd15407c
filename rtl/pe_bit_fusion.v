// Bit Fusion fusion unit: (A_MAX/2) x (W_MAX/2) BitBricks, each a 2-bit x 2-bit multiply, fused by a
// shift-add tree into one MAC per cycle. Operands split into 2-bit digits, low first, at their runtime
// widths: activation digits unsigned; weight digits unsigned except the top one (l = ceil(w_bits/2) - 1),
// which keeps the sign (w >>> 2l). Bricks past a width's digits are gated off. One-cycle MAC: busy is 0.
// Interface as pe_bit_serial_act.
module pe_bit_fusion #(
    parameter A_MAX = 8,    // even
    parameter W_MAX = 8,    // even
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
    output wire                    busy
);
    localparam NA = A_MAX / 2;
    localparam NW = W_MAX / 2;
    wire [3:0] na = (a_bits + 4'd1) >> 1;   // digits in use
    wire [3:0] nw = (w_bits + 4'd1) >> 1;

    reg signed [ACC_W-1:0] mac;
    reg signed [2:0]       wd;    // a weight digit: 2 bits unsigned, or the signed top digit
    reg signed [2:0]       ad;    // an activation digit, 0..3
    reg signed [W_MAX-1:0] w_hi;
    integer k, l;
    always @* begin
        mac = 0;
        for (k = 0; k < NA; k = k + 1) begin
            for (l = 0; l < NW; l = l + 1) begin
                ad = {1'b0, a[2*k +: 2]};
                w_hi = w >>> (2 * l);
                wd = (l == nw - 1) ? w_hi[2:0] : {1'b0, w[2*l +: 2]};
                if (k < na && l < nw)
                    mac = mac + ((ad * wd) <<< (2 * (k + l)));
            end
        end
    end

    assign busy = 1'b0;
    always @(posedge clk) begin
        if (rst) acc <= 0;
        else if (start) acc <= acc + mac;
        else if (clear) acc <= 0;
    end
endmodule
