from rich.console import Console

from sonar.plan.gpus import GPUS
from sonar.plan.source import load_model_spec
from sonar.plan.table import context_table, format_tokens, render_context_table


def test_rows_cover_models_formats_and_counts():
    rows = context_table([load_model_spec("scout")], ["bf16", "int4_mixed"], gpu=GPUS["h100-80gb"],
                         gpu_counts=(1, 8))
    assert [(r.model, r.weights) for r in rows] == [("scout", "bf16"), ("scout", "int4_mixed")]
    bf16, int4 = rows
    assert bf16.max_context[1] == 0 < bf16.max_context[8]  # bf16 Scout needs more than one H100
    assert int4.max_context[1] < int4.max_context[8] == int4.max_position_embeddings


def test_rendered_cells_mark_misfits_and_the_model_limit():
    rows = context_table([load_model_spec("scout")], ["bf16", "int4_mixed"], gpu=GPUS["h100-80gb"],
                         gpu_counts=(1, 8))
    console = Console(width=200, record=True)
    console.print(render_context_table(rows, GPUS["h100-80gb"], batch=1, kv_dtype="bf16"))
    text = console.export_text()
    assert "10.49M*" in text  # int4_mixed on 8 GPUs reaches Scout's own limit
    assert " - " in text  # bf16 on one GPU


def test_format_tokens():
    assert [format_tokens(n) for n in (512, 131_072, 10_485_760)] == ["512", "131.1K", "10.49M"]
