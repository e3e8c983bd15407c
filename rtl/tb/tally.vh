// The testbenches' pass/fail tally and the "RESULT pass=P fail=F" line that tests/rtl_sim.py reads back.
// `include it inside a testbench module, set pass = 0 and fail = 0 before the first comparison, call
// tally(ok, show) per comparison (show: print this comparison's MISMATCH line, true for the first 20
// failures) and report at the end.
integer pass, fail;
reg show;

task tally(input ok, output show_mismatch);
    begin
        if (ok) pass = pass + 1;
        else fail = fail + 1;
        show_mismatch = !ok && fail <= 20;
    end
endtask

task report;
    begin
        $display("RESULT pass=%0d fail=%0d", pass, fail);
        $finish;
    end
endtask
