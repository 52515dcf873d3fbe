from sonar.posttrain.dpo import DPOConfig
from sonar.posttrain.evaluate import EvalConfig
from sonar.posttrain.pipeline import STAGES, PipelineConfig, run_pipeline
from sonar.posttrain.report_plot import accuracy_table, summary_lines, write_accuracy_png
from sonar.posttrain.rl import RLConfig
from sonar.posttrain.sft import SFTConfig


def test_every_stage_is_measured_and_saved(small_model, tmp_path):
    config = PipelineConfig(
        sft=SFTConfig(steps=2, batch_size=4), rl=RLConfig(tasks=("brackets",), steps=1, prompts_per_step=2,
                                                          group_size=2, start_level=1),
        dpo=DPOConfig(steps=1, group_size=2), evaluation=EvalConfig(tasks=("brackets",), levels=(1, 2), per_cell=2),
        sft_per_cell=4, dpo_per_cell=2, seed=3)
    report = run_pipeline(small_model, config, tmp_path, log=lambda line: None)
    assert list(report["stages"]) == list(STAGES)
    for stage in STAGES[1:]:
        assert (tmp_path / stage / "model" / "config.json").is_file()
    assert report["settings"]["sft"]["seed"] == 3 and report["settings"]["rl"]["seed"] == 3
    table = accuracy_table([report, report])
    assert set(table) == {"overall", "level 1", "level 2"} and len(table["overall"]["dpo"]) == 2
    lines = summary_lines([report, report])
    assert lines[0].startswith("overall   base ") and lines[-1].startswith("brackets  base ") and len(lines) == 4
    write_accuracy_png(tmp_path / "accuracy.png", [report, report], title="test")
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
