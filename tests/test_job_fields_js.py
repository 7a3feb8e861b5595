"""web/js/components/job-fields.js run under node over /api/models' `fields`: a job's detail rows and a
gallery tile's line read as the hand-written job-detail-dialog.js ROWS/optionRows and gallery-view.js wrote
them (the card's line: test_spec.test_summarize_is_word_for_word_what_the_web_ui_writes)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fastvideo_ui.api.system import model_facts
from fastvideo_ui.jobs.catalogue import Catalogue, PREVIEW
from fastvideo_ui.spec.served import Capacity, fields_json
from test_spec import WAN, params

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run job-fields.js")
MODULE = Path(__file__).resolve().parent.parent / "src/fastvideo_ui/web/js/components/job-fields.js"


def run(model: str, expression: str, job: dict[str, Any]) -> Any:
    spec = Catalogue().find(model)
    assert spec is not None
    fields = fields_json(model_facts(spec), Capacity(4))
    script = (f"import * as fields from {json.dumps(str(MODULE))};"
              f"const job = {json.dumps(job)}; const served = {json.dumps(fields)};"
              f"console.log(JSON.stringify({expression}));")
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def rows(model: str, noun: str, **changes: Any) -> dict[str, str]:
    job = dataclasses.asdict(params(**changes))
    found = run(model, f"fields.detailRows(job, served, {json.dumps(noun)}).map((row) => [row.label, row.text])", job)
    return dict(found)


def test_a_fastvideo_jobs_detail_rows() -> None:
    assert rows(WAN, "GPU", num_gpus=2) == {
        "Prompt": "a fox", "Negative prompt": "—", "Steps": "600", "Frames": "33 at 16 fps", "Size": "512×512",
        "Guidance scale": "5", "Seed": "4242", "Devices": "2 GPUs", "Offload": "dit_layerwise, text_encoder, vae",
        "FSDP inference": "no", "torch.compile": "no", "Attention backend": "—", "VSA sparsity": "0",
        "Sequence parallel size": "—", "Tensor parallel size": "—", "LoRAs": "—"}
    shown = rows(WAN, "GPU", dit_layerwise_offload=False, dit_cpu_offload=True, text_encoder_cpu_offload=False,
                 vae_cpu_offload=False, use_fsdp_inference=True, negative_prompt="blur")
    assert (shown["Offload"], shown["FSDP inference"], shown["Negative prompt"]) == ("dit", "yes", "blur")
    assert rows(WAN, "GPU", dit_layerwise_offload=False, text_encoder_cpu_offload=False,
                vae_cpu_offload=False)["Offload"] == "none"


def test_a_preview_jobs_detail_rows_have_no_offloads() -> None:
    assert rows(PREVIEW.id, "CPU slot") == {
        "Prompt": "a fox", "Negative prompt": "—", "Steps": "600", "Frames": "33 at 16 fps", "Size": "512×512",
        "Guidance scale": "5", "Seed": "4242", "Devices": "1 CPU slot"}


def test_a_gallery_tiles_line() -> None:
    job = dataclasses.asdict(params(num_gpus=2))
    # The gallery's own expression (gallery-view.js): the parts the spec marks `tile`.
    assert run(WAN, 'fields.summary(job, served.filter((f) => f.ui?.tile), "GPU")', job) == "512×512 · seed 4242"


def test_a_value_in_words_is_pythons_rules_shown() -> None:
    from fastvideo_ui.spec.rules import shown

    values = [5.0, 0.5, True, None, "ink", [], [{"lora": "a.safetensors", "strength": 0.8, "expert": None},
                                               {"lora": "org/repo", "strength": 1.0, "expert": "high"}]]
    assert run(WAN, "job.map(fields.shown)", values) == [shown(value) for value in values]  # type: ignore[arg-type]
