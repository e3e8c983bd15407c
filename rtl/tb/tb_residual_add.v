// Testbench of residual_add: +a= +b= +y= files (32-bit two's complement, docs/test_vectors.md),
// +count= +frac_bits= +out_bits=. Prints MISMATCH lines (the first 20) and "RESULT pass=P fail=F".
module tb_residual_add;
    `include "tally.vh"
    parameter DEPTH = 1 << 17;
    reg signed [31:0] a_m [0:DEPTH-1];
    reg signed [31:0] b_m [0:DEPTH-1];
    reg signed [31:0] y_m [0:DEPTH-1];
    reg [8*512-1:0] f_a, f_b, f_y;
    integer count, fb, ob, idx;
    reg signed [31:0] a, b;
    reg [4:0] frac_bits;
    reg [3:0] out_bits;
    wire signed [31:0] y;
    residual_add #(.IN_W(32), .OUT_W(32)) dut (.a(a), .b(b), .frac_bits(frac_bits), .out_bits(out_bits), .y(y));

    initial begin
        if (!$value$plusargs("a=%s", f_a) || !$value$plusargs("b=%s", f_b) || !$value$plusargs("y=%s", f_y) ||
            !$value$plusargs("count=%d", count) || !$value$plusargs("frac_bits=%d", fb) ||
            !$value$plusargs("out_bits=%d", ob)) begin
            $display("ERROR missing plusargs"); $finish;
        end
        $readmemh(f_a, a_m, 0, count - 1);
        $readmemh(f_b, b_m, 0, count - 1);
        $readmemh(f_y, y_m, 0, count - 1);
        frac_bits = fb; out_bits = ob; pass = 0; fail = 0;
        for (idx = 0; idx < count; idx = idx + 1) begin
            a = a_m[idx]; b = b_m[idx];
            #1;
            tally(y === y_m[idx], show);
            if (show) $display("MISMATCH idx=%0d a=%0d b=%0d got=%0d want=%0d", idx, a, b, y, y_m[idx]);
        end
        report;
    end
endmodule
