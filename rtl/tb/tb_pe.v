// Testbench of one PE (compile with -DPE=pe_bit_serial_act | pe_bit_serial_both | pe_bit_fusion):
// dot products of rows of +a= (unsigned codes) and +w= (signed weight codes), +rows= rows of +k= elements,
// at +a_bits= / +w_bits=; compares the accumulator with +acc= (32-bit two's complement) per row.
// Prints MISMATCH lines (the first 20), "CYCLES n" and "RESULT pass=P fail=F".
module tb_pe;
    `include "tally.vh"
    parameter DEPTH = 1 << 17;
    reg        [7:0]  a_m   [0:DEPTH-1];
    reg signed [7:0]  w_m   [0:DEPTH-1];
    reg signed [31:0] acc_m [0:DEPTH-1];
    reg [8*512-1:0] f_a, f_w, f_acc;
    integer rows, k, ab, wb, r, e, cycles;
    reg clk, rst, clear, start;
    reg        [7:0] a;
    reg signed [7:0] w;
    reg        [3:0] a_bits, w_bits;
    wire signed [31:0] acc;
    wire busy;
    `PE #(.A_MAX(8), .W_MAX(8), .ACC_W(32)) dut (.clk(clk), .rst(rst), .clear(clear), .start(start), .a(a), .w(w),
                                               .a_bits(a_bits), .w_bits(w_bits), .acc(acc), .busy(busy));
    always #5 clk = ~clk;
    always @(posedge clk) cycles = cycles + 1;

    initial begin
        if (!$value$plusargs("a=%s", f_a) || !$value$plusargs("w=%s", f_w) || !$value$plusargs("acc=%s", f_acc) ||
            !$value$plusargs("rows=%d", rows) || !$value$plusargs("k=%d", k) ||
            !$value$plusargs("a_bits=%d", ab) || !$value$plusargs("w_bits=%d", wb)) begin
            $display("ERROR missing plusargs"); $finish;
        end
        $readmemh(f_a, a_m, 0, rows * k - 1);
        $readmemh(f_w, w_m, 0, rows * k - 1);
        $readmemh(f_acc, acc_m, 0, rows - 1);
        clk = 0; rst = 1; clear = 0; start = 0; a = 0; w = 0; a_bits = ab; w_bits = wb; pass = 0; fail = 0;
        @(negedge clk); rst = 0; cycles = 0;
        for (r = 0; r < rows; r = r + 1) begin
            clear = 1; @(negedge clk); clear = 0;
            for (e = 0; e < k; e = e + 1) begin
                a = a_m[r * k + e]; w = w_m[r * k + e]; start = 1;
                @(negedge clk); start = 0;
                while (busy) @(negedge clk);
            end
            tally(acc === acc_m[r], show);
            if (show) $display("MISMATCH row=%0d got=%0d want=%0d", r, acc, acc_m[r]);
        end
        $display("CYCLES %0d", cycles);
        report;
    end
endmodule
