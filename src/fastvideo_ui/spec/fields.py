"""The job spec: every per-job field, described once.

`JobParams` is one job's per-job values, resolved (every value set): the typed
carrier from create to stored row to worker. Each of its fields carries a
`FieldSpec` (spec/field_spec.py) in its metadata, so `FIELDS` is read off the
dataclass: one definition, and mypy still knows `params.num_frames: int`. The
request model, the documented Job, the CLI's flags, /api/models' `fields`, the
MP4's settings and the worker's wire are all derived from `FIELDS` (each by a
function of a fields tuple, so a test can derive them for an extra field too).

Stdlib only: the CLI, the worker and the registry probe import it without
pydantic, SQLAlchemy or torch (tests/test_spec.py checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from collections.abc import Mapping
from typing import Any

from ..loras.choice import MAX_LORAS, MAX_STRENGTH, loras_rule, lora_ref, parse_lora_flag
from .checks import one_line, one_line_only, parse_size, prompt_text
from .field_spec import (DERIVED, EVERYWHERE, MODEL, REQUIRED, SPEC, Applies, Cli, FieldSpec, Group, Later,
                         ModelTraits, OpenAi, Ui, Widget, fields_of, later, param)

__all__ = ["DERIVED", "EVERYWHERE", "FIELDS", "MODEL", "REQUIRED", "SPEC", "Applies", "BY_NAME", "Cli", "FieldSpec",
           "Group", "JobParams", "Later", "ModelTraits", "OpenAi", "UPLOADS", "Ui", "Widget", "fields_of", "later",
           "param"]

MAX_PROMPT_CHARS: Final = 10_000
MAX_SEED: Final = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -100, 100


_MODEL_SAYS = " (omitted: the chosen model's default)"
# FastVideo 0.2.1's own defaults (fastvideo_args.py:940-946; shared/spec/fastvideo-on-cpu.md, "Offload"):
# layerwise, DiT, text encoder and VAE offload on, FSDP inference off. While layerwise is on FastVideo
# switches dit_cpu_offload and use_fsdp_inference off: that is their `off_when`.
_FASTVIDEO_ONLY = Applies(backends=frozenset({"fastvideo"}), otherwise="keep")
_FASTVIDEO = Applies(backends=frozenset({"fastvideo"}))
_OFFLOAD = "Offload"
# FastVideo 0.2.1's AttentionBackendEnum (platforms/interface.py) but the training and "none" entries;
# tests/test_real_fastvideo.py holds this to the installed wheel's.
ATTENTION_BACKENDS: Final = ("FLASH_ATTN", "TORCH_SDPA", "SAGE_ATTN", "SAGE_ATTN_THREE", "ATTN_QAT_INFER",
                             "VIDEO_SPARSE_ATTN", "VIDEO_SPARSE_ATTN_H3", "BSA_ATTN", "VMOBA_ATTN", "SLA_ATTN",
                             "SAGE_SLA_ATTN", "NABLA_ATTN")
_VSA_BACKENDS = ("VIDEO_SPARSE_ATTN", "VIDEO_SPARSE_ATTN_H3")


@dataclass(frozen=True, kw_only=True)
class LoraChoice:
    """One LoRA adapter of a job, and how strongly it applies."""

    lora: str = param(group=Group.GENERATION, min_length=1, max_length=300, check=lora_ref,
                      help="a LoRA in the library (GET /api/loras), a Hugging Face repo id, or "
                           "repo_id/file.safetensors")
    strength: float = param(1.0, group=Group.GENERATION, minimum=-MAX_STRENGTH, maximum=MAX_STRENGTH,
                            help="how strongly it applies: 1 as trained, 0 not at all, negative against it")
    expert: str | None = param(None, group=Group.GENERATION, choices=("high_noise", "low_noise"),
                               help="one expert of a two-expert model (Wan2.2 A14B): FastVideo 0.2.1 cannot, so a "
                                    "job that names one is refused, saying why")


def _splits_devices(value: Any, values: Mapping[str, Any], model: ModelTraits) -> str | None:
    gpus = values["num_gpus"]
    if gpus <= 1:
        return "splits a job across its GPUs: it needs num_gpus above 1"
    return None if gpus % value == 0 else f"must divide num_gpus ({gpus})"


def _sparse_attention(value: Any, values: Mapping[str, Any], model: ModelTraits) -> str | None:
    if values["attention_backend"] in _VSA_BACKENDS:
        return None
    return ("only FastVideo's video sparse attention reads it: set attention_backend to VIDEO_SPARSE_ATTN "
            "(another backend would run the job dense and ignore it)")


@dataclass(frozen=True, kw_only=True)
class JobParams:
    """One job's per-job fields, resolved (every value set), in request order."""

    model_id: str = param(
        group=Group.LOAD, min_length=1, max_length=200, in_settings=True, storage="column", sql_length=200,
        help="the model to run: an id from GET /api/models",
        cli=Cli("--model", metavar="MODEL", help="a model id (default: the first this server can run)"),
        ui=Ui("Model", widget="model", section="top", detail=None))  # the details name it in words, then by id
    prompt: str = param(
        group=Group.GENERATION, max_length=MAX_PROMPT_CHARS, check=prompt_text, text=True, storage="column",
        help="what the video shows: one line of text",
        cli=Cli("prompt", parse=one_line), ui=Ui("Prompt", widget="textarea", section="top"))
    negative_prompt: str = param(
        MODEL, group=Group.GENERATION, max_length=MAX_PROMPT_CHARS, check=one_line_only, fastvideo="sample",
        text=True, storage="column", server_default="", help="what the video should not show, one line" + _MODEL_SAYS,
        cli=Cli("--negative", parse=one_line), ui=Ui("Negative prompt", widget="textarea", section="advanced"))
    num_inference_steps: int = param(
        MODEL, group=Group.GENERATION, minimum=1, model_limits=True, fastvideo="sample", cost="steps",
        storage="column", help="denoising steps: more is slower, and finer up to a point" + _MODEL_SAYS,
        cli=Cli("--steps"), ui=Ui("Steps", summary="{num_inference_steps|step}", summary_at=3))
    num_frames: int = param(
        MODEL, group=Group.GENERATION, minimum=1, model_limits=True, fastvideo="sample", cost="work",
        storage="column", help="frames in the video" + _MODEL_SAYS,
        cli=Cli("--frames"), openai=OpenAi("seconds", "seconds"),
        ui=Ui("Frames", detail="{num_frames} at {fps} fps", summary="{num_frames|frame} @ {fps} fps", summary_at=2))
    width: int = param(
        MODEL, group=Group.GENERATION, minimum=8, multiple_of=8, model_limits=True, fastvideo="sample",
        cost="work", storage="column", help="the video's width in pixels" + _MODEL_SAYS,
        cli=Cli("--size", help="WIDTHxHEIGHT, e.g. 832x480", parse=parse_size, sets=("width", "height")),
        openai=OpenAi("size", "size", sets=("width", "height")),
        ui=Ui("Width", step=8, detail="{width}×{height}", detail_label="Size", summary="{width}×{height}",
              summary_at=1, tile=True))
    height: int = param(
        MODEL, group=Group.GENERATION, minimum=8, multiple_of=8, model_limits=True, fastvideo="sample",
        cost="work", storage="column", help="the video's height in pixels" + _MODEL_SAYS,
        cli=Cli("--size", help="WIDTHxHEIGHT, e.g. 832x480", parse=parse_size, sets=("width", "height")),
        ui=Ui("Height", step=8, detail=None))
    guidance_scale: float = param(
        MODEL, group=Group.GENERATION, minimum=0, finite=True, model_limits=True, fastvideo="sample",
        storage="column", help="how closely the video follows the prompt (classifier-free guidance)" + _MODEL_SAYS,
        cli=Cli("--guidance"), ui=Ui("Guidance scale", step=0.1, summary="cfg {guidance_scale}", summary_at=4))
    guidance_rescale: float = param(
        0.0, group=Group.GENERATION, minimum=0.0, maximum=1.0, finite=True, fastvideo="sample",
        applies=Applies(backends=frozenset({"fastvideo"})),
        help="rescales classifier-free guidance to keep colours from burning out (0: off); "
             "FastVideo's SamplingParam.guidance_rescale",
        ui=Ui("Guidance rescale", section="advanced", step=0.05, detail=None))
    seed: int = param(
        1024, group=Group.GENERATION, minimum=0, maximum=MAX_SEED, fastvideo="sample", storage="column",
        help="the random seed: the same seed and settings make the same video",
        cli=Cli("--seed"), ui=Ui("Seed", widget="seed", hint="", summary="seed {seed}", summary_at=5,
                                  tile=True))
    fps: int = param(
        MODEL, group=Group.GENERATION, minimum=1, model_limits=True, fastvideo="sample", storage="column",
        help="the video's frames per second" + _MODEL_SAYS,
        cli=Cli("--fps"), ui=Ui("Frames per second", section="advanced", detail=None))
    num_gpus: int = param(
        1, group=Group.LOAD, minimum=1, fastvideo="load", cost="devices", storage="column",
        help="devices the job runs on together: GPUs, or CPU slots for the preview renderer",
        cli=Cli("--gpus"),
        ui=Ui("GPUs", widget="devices", detail="{num_gpus|device}", detail_label="Devices", summary="{num_gpus|device}",
              summary_at=6, summary_unless=1))
    # In today's /api/models `options` order (the dialog's checks follow it), not the old request's.
    dit_layerwise_offload: bool = param(
        later(True), group=Group.LOAD, applies=_FASTVIDEO_ONLY, fastvideo="load", offload=True, storage="column",
        server_default=True,  # 0002: FastVideo ran every earlier job with it on
        help="FastVideo's layer-by-layer DiT offload; while on, dit_cpu_offload and use_fsdp_inference are off",
        cli=None, ui=Ui("Offload DiT layer by layer", widget="check", section="advanced", group=_OFFLOAD,
                        short="dit_layerwise"))
    dit_cpu_offload: bool = param(
        later(True), group=Group.LOAD, applies=_FASTVIDEO_ONLY, fastvideo="load", offload=True,
        off_when="dit_layerwise_offload", storage="column", server_default=False,
        help="keep the DiT in CPU memory between uses (FastVideo turns it off while dit_layerwise_offload is on)",
        cli=None, ui=Ui("Offload DiT to CPU (with layer-by-layer off)", widget="check", section="advanced",
                        group=_OFFLOAD, short="dit"))
    use_fsdp_inference: bool = param(
        later(False), group=Group.LOAD, applies=_FASTVIDEO_ONLY, fastvideo="load",
        off_when="dit_layerwise_offload", storage="column", server_default=False,
        help="shard the DiT across the job's GPUs with FSDP (FastVideo turns it off while dit_layerwise_offload "
             "is on)",
        cli=None, ui=Ui("FSDP inference", widget="check", section="advanced"))  # not an offload: its own row
    text_encoder_cpu_offload: bool = param(
        later(True), group=Group.LOAD, applies=_FASTVIDEO_ONLY, fastvideo="load", offload=True, storage="column",
        server_default=False, help="keep the text encoder in CPU memory",
        cli=None, ui=Ui("Offload text encoder to CPU", widget="check", section="advanced", group=_OFFLOAD,
                        short="text_encoder"))
    vae_cpu_offload: bool = param(
        later(True), group=Group.LOAD, applies=_FASTVIDEO_ONLY, fastvideo="load", offload=True, storage="column",
        server_default=False, help="keep the VAE in CPU memory",
        cli=None, ui=Ui("Offload VAE to CPU", widget="check", section="advanced", group=_OFFLOAD, short="vae"))
    enable_torch_compile: bool = param(
        False, group=Group.LOAD, applies=_FASTVIDEO, fastvideo="load",
        help="compile the DiT with torch.compile: a slower first job on a worker, faster steps after",
        cli=Cli("--compile"), ui=Ui("torch.compile the DiT", widget="check", section="advanced",
                                    detail_label="torch.compile"))
    attention_backend: str | None = param(
        None, group=Group.LOAD, choices=ATTENTION_BACKENDS, applies=_FASTVIDEO, fastvideo="load",
        env="FASTVIDEO_ATTENTION_BACKEND", help="FastVideo's attention backend; null: FastVideo picks one",
        cli=Cli("--attention", metavar="BACKEND", help="FastVideo's attention backend (default: FastVideo picks "
                "one): %(choices)s"), ui=Ui("Attention backend", section="advanced"))
    vsa_sparsity: float = param(
        0.0, group=Group.LOAD, minimum=0.0, maximum=0.95, applies=Applies(
            backends=frozenset({"fastvideo"}), feature="vsa",
            refusal="{model}'s DiT has no video sparse attention (VSA): vsa_sparsity does not apply"),
        fastvideo="load", fastvideo_name="VSA_sparsity", rule=_sparse_attention,
        help="the share of attention video sparse attention skips, 0 to 0.95 (with attention_backend "
             "VIDEO_SPARSE_ATTN)",
        cli=Cli("--vsa-sparsity"), ui=Ui("VSA sparsity", section="advanced", step=0.05))
    sp_size: int | None = param(
        None, group=Group.LOAD, minimum=1, applies=_FASTVIDEO, fastvideo="load", rule=_splits_devices,
        help="sequence-parallel size, a divisor of num_gpus; null: FastVideo's (all the job's GPUs)",
        ui=Ui("Sequence parallel size", section="advanced", hint="with 2 GPUs or more: a divisor of them"))
    tp_size: int | None = param(
        None, group=Group.LOAD, minimum=1, applies=_FASTVIDEO, fastvideo="load", rule=_splits_devices,
        help="tensor-parallel size, a divisor of num_gpus; null: FastVideo's (1)",
        ui=Ui("Tensor parallel size", section="advanced", hint="with 2 GPUs or more: a divisor of them"))
    enable_teacache: bool = param(
        False, group=Group.GENERATION, fastvideo="sample", applies=Applies(
            backends=frozenset({"fastvideo"}), feature="teacache",
            refusal="FastVideo 0.2.1 has no TeaCache for {model}: SamplingParam takes enable_teacache, and no "
                    "model's DiT reads it"),
        help="reuse a step's result where the next would differ little (TeaCache), where the model has it",
        cli=None, ui=Ui("TeaCache", widget="check", section="advanced"))  # no flag: no 0.2.1 model has it
    priority: int = param(
        0, group=Group.OPTION, minimum=MIN_PRIORITY, maximum=MAX_PRIORITY, storage="column", server_default=0,
        help="higher runs first, -100 to 100",
        cli=Cli("--priority"),
        ui=Ui("Priority", section="advanced", hint="higher runs first, −100 to 100", detail=None))
    retry_on_oom: bool = param(
        False, group=Group.OPTION, applies=Applies(oom_retry=True, otherwise="keep"), storage="column",
        server_default=False, help="out of memory: queued again once, first, with every offload on",
        cli=Cli("--retry-on-oom"),
        ui=Ui("Out of memory: retry once with every offload on", widget="check", section="advanced", detail=None))
    webhook_url: str | None = param(
        None, group=Group.OPTION, max_length=2000, secret=True, server_check="webhook_target", storage="column",
        help="where this job's events are posted; null: the server's default",
        cli=Cli("--webhook", metavar="URL", help="post its started/completed/failed/stopped events here"),
        ui=None)
    image: str | None = param(
        None, group=Group.OPTION, pattern=r"^[0-9a-f]{64}$", upload=True, server_check="upload", fastvideo="sample",
        storage="column", sql_length=64, openai=OpenAi("input_reference", "file"),
        applies=Applies(image_input=True, required_when="required",
                        refusal="{model} does not take an image (it is {type})",
                        required_message="{model} needs an input image: upload one (POST /api/uploads)"),
        help="the input image's upload id (image-to-video)",
        cli=Cli("--image", metavar="FILE", help="an input picture (PNG, JPEG or WebP) for a model that takes one: "
                "uploaded first, then named by the job"),
        ui=Ui("Input image", widget="upload", section="top", detail=None))  # the details show the image
    loras: tuple[dict[str, Any], ...] = param(
        (), group=Group.GENERATION, item=LoraChoice, max_length=MAX_LORAS, applies=_FASTVIDEO,
        server_check="lora", resolve="lora", rule=loras_rule,
        help=f"LoRA adapters to apply, at most {MAX_LORAS}, in order; a worker that holds the model switches "
             f"them without a reload",
        cli=Cli("--lora", metavar="NAME[:STRENGTH]", parse=parse_lora_flag, repeat=True,
                help="a LoRA (a library name or a Hub repo id) and its strength (default 1); again for another"),
        ui=Ui("LoRAs", widget="loras", detail_label="LoRAs", summary="LoRA {loras}", summary_at=7, tile=True))


FIELDS: Final = fields_of(JobParams)
BY_NAME: Final = {f.name: f for f in FIELDS}
UPLOADS: Final = tuple(f for f in FIELDS if f.upload)
