// Testbench of nested_weight: +q= (stored codes) +w= (expected derived codes), both 8-bit two's complement
// (docs/test_vectors.md), +count= +from_bits= +to_bits=. Prints MISMATCH lines (the first 20) and
// "RESULT pass=P fail=F".
module tb_nested_weight;
    `include "tally.vh"
    parameter DEPTH = 1 << 17;
    reg signed [7:0] q_m [0:DEPTH-1];
    reg signed [7:0] w_m [0:DEPTH-1];
    reg [8*512-1:0] f_q, f_w;
    integer count, fb, tb, idx;
    reg signed [7:0] q;
    reg [3:0] from_bits, to_bits;
    wire signed [7:0] w;
    nested_weight dut (.q(q), .from_bits(from_bits), .to_bits(to_bits), .w(w));

    initial begin
        if (!$value$plusargs("q=%s", f_q) || !$value$plusargs("w=%s", f_w) || !$value$plusargs("count=%d", count) ||
            !$value$plusargs("from_bits=%d", fb) || !$value$plusargs("to_bits=%d", tb)) begin
            $display("ERROR missing plusargs"); $finish;
        end
        $readmemh(f_q, q_m, 0, count - 1);
        $readmemh(f_w, w_m, 0, count - 1);
        from_bits = fb; to_bits = tb; pass = 0; fail = 0;
        for (idx = 0; idx < count; idx = idx + 1) begin
            q = q_m[idx];
            #1;
            tally(w === w_m[idx], show);
            if (show) $display("MISMATCH idx=%0d q=%0d got=%0d want=%0d", idx, q, w, w_m[idx]);
        end
        report;
    end
endmodule
