"""resolved_config records the checkpoint a study actually used (--checkpoint over the YAML's)."""
import studies.accelerators as acc
from studies.runner import run_study


def test_checkpoint_from_the_command_line_is_recorded(tmp_path, monkeypatch):
    seen = {}

    class Done:
        def finish(self):
            pass

    def fake_main(cfg, out_dir, checkpoint=None, progress=True):
        seen["cfg"] = cfg
        return Done()

    monkeypatch.setattr(acc, "main", fake_main)
    run_study("accelerators", out=tmp_path, checkpoint="elsewhere/ck.pt", progress=False)
    assert seen["cfg"].model.checkpoint == "elsewhere/ck.pt"
