// Testbench of requant_unit: reads $readmemh vectors (docs/test_vectors.md) named by plusargs
//   +acc= +bias= +m0= +shift= +frac= +y=   files;  +count= +channels= +spatial= +clamp= +out_bits=
// Value idx (NCHW order) uses the tables of channel (idx / spatial) % channels. Prints one MISMATCH line
// per differing value (the first 20) and "RESULT pass=P fail=F".
module tb_requant;
    `include "tally.vh"
    parameter DEPTH = 1 << 17;
    reg signed [31:0] acc_m   [0:DEPTH-1];
    reg signed [63:0] bias_m  [0:DEPTH-1];
    reg signed [31:0] m0_m    [0:DEPTH-1];
    reg        [7:0]  shift_m [0:DEPTH-1];
    reg signed [31:0] frac_m  [0:DEPTH-1];
    reg signed [31:0] y_m     [0:DEPTH-1];
    reg [8*512-1:0] f_acc, f_bias, f_m0, f_shift, f_frac, f_y;
    integer count, channels, spatial, clamp_i, out_bits_i, idx, c, acc_w8;

    reg signed [31:0] acc;
    reg signed [63:0] bias;
    reg signed [31:0] m0, frac;
    reg        [5:0]  shift;
    reg               clamp;
    reg        [3:0]  out_bits;
    wire signed [31:0] y;
    requant_unit #(.ACC_W(32), .BIAS_W(64), .OUT_W(32)) dut (
        .acc(acc), .bias(bias), .m0(m0), .shift(shift), .frac(frac), .clamp(clamp), .out_bits(out_bits), .y(y));

    initial begin
        if (!$value$plusargs("acc=%s", f_acc) || !$value$plusargs("bias=%s", f_bias) ||
            !$value$plusargs("m0=%s", f_m0) || !$value$plusargs("shift=%s", f_shift) ||
            !$value$plusargs("frac=%s", f_frac) || !$value$plusargs("y=%s", f_y) ||
            !$value$plusargs("count=%d", count) || !$value$plusargs("channels=%d", channels) ||
            !$value$plusargs("spatial=%d", spatial) || !$value$plusargs("clamp=%d", clamp_i) ||
            !$value$plusargs("out_bits=%d", out_bits_i)) begin
            $display("ERROR missing plusargs"); $finish;
        end
        // 8-bit code files (an unsigned input read as the accumulator) zero-extend; +acc8=1 says so
        if (!$value$plusargs("acc8=%d", acc_w8)) acc_w8 = 0;
        $readmemh(f_acc, acc_m, 0, count - 1);
        $readmemh(f_bias, bias_m, 0, channels - 1);
        $readmemh(f_m0, m0_m, 0, channels - 1);
        $readmemh(f_shift, shift_m, 0, channels - 1);
        $readmemh(f_frac, frac_m, 0, channels - 1);
        $readmemh(f_y, y_m, 0, count - 1);
        pass = 0; fail = 0;
        clamp = clamp_i; out_bits = out_bits_i;
        for (idx = 0; idx < count; idx = idx + 1) begin
            c = (idx / spatial) % channels;
            acc = acc_w8 ? {24'd0, acc_m[idx][7:0]} : acc_m[idx];
            bias = bias_m[c]; m0 = m0_m[c]; shift = shift_m[c][5:0]; frac = frac_m[c];
            #1;
            tally(y === y_m[idx], show);
            if (show) $display("MISMATCH idx=%0d ch=%0d acc=%0d bias=%0d m0=%0d shift=%0d frac=%0d got=%0d want=%0d",
                                         idx, c, acc, bias, m0, shift, frac, y, y_m[idx]);
        end
        report;
    end
endmodule
