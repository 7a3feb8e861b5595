"""Build tiny random-weight Wan 2.1 checkpoints, text- and image-to-video, offline.

    python build_tiny_wan.py HF_HOME

writes them in the Diffusers layout into a Hugging Face cache under the real
repo ids, so that `VideoGenerator.from_pretrained("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")`
(and the I2V 14B 480P id, with workload_type="i2v") with HF_HOME set and
HF_HUB_OFFLINE=1 loads them without touching a network, and jobs for the
catalogue's own model ids run end to end. A few MB; the frames they make are
noise. Runs in the real-FastVideo environment, with the CPU shims on
PYTHONPATH (transformers imports torchvision).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ID = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
I2V_REPO_ID = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
TEXT_DIM = 32
SENTENCES = [
    "a red fox runs through the snow at dawn",
    "a curious raccoon in a sunflower field",
    "waves break on a rocky shore under a grey sky",
    "a city street at night with neon lights and rain",
    "a small boat drifts on a calm lake in the morning",
    "a cat sleeps on a warm windowsill in the sun",
]


def tokenizer():  # type: ignore[no-untyped-def]
    import sentencepiece
    from transformers import T5TokenizerFast

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 20), model_writer=model, vocab_size=48, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        character_coverage=1.0, minloglevel=2)
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    # transformers 5: the vocabulary must be given as pieces; vocab_file= silently
    # gives a 4-token vocabulary.
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    return T5TokenizerFast(vocab=vocab, extra_ids=0)


def _common(target: Path) -> None:
    """What both pipelines share: the text encoder and tokenizer, the VAE, the scheduler."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    tok = tokenizer()
    tok.save_pretrained(target / "tokenizer")
    encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tok), d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
    encoder.save_pretrained(target / "text_encoder")
    AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1).save_pretrained(target / "vae")
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    scheduler.save_pretrained(target / "scheduler")
    # FastVideo's own UniPCMultistepScheduler(**config) refuses three keys diffusers 0.42 writes.
    config_path = target / "scheduler" / "scheduler_config.json"
    config = json.loads(config_path.read_text())
    for key in ("shift_terminal", "sigma_min", "sigma_max"):
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2))


MODULES = {
    "scheduler": ["diffusers", "UniPCMultistepScheduler"], "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "WanTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}


def build(target: Path) -> None:
    """Text-to-video: WanPipeline."""
    from diffusers import WanTransformer3DModel

    _common(target)
    WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=24, in_channels=16, out_channels=16,
        text_dim=TEXT_DIM, freq_dim=32, ffn_dim=64, num_layers=2, rope_max_seq_len=64,
    ).save_pretrained(target / "transformer")
    (target / "model_index.json").write_text(json.dumps(
        {"_class_name": "WanPipeline", "_diffusers_version": "0.42.1", **MODULES}, indent=2))


def _rewrite(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Edit a saved model's safetensors state dict in place."""
    from safetensors.torch import load_file, save_file

    for path in folder.glob("*.safetensors"):
        save_file(change(load_file(str(path))), str(path), metadata={"format": "pt"})


def build_i2v(target: Path) -> None:
    """Image-to-video: WanImageToVideoPipeline, with a CLIP image encoder. Three
    things FastVideo's loaders expect of the real checkpoint, which diffusers 0.42
    and transformers 5 no longer write: 32 CLIP layers (FastVideo keeps 31),
    CLIP weights under `vision_model.`, and an `attn2.norm_added_q` in each block."""
    import torch
    from diffusers import WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    _common(target)
    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=32,
                                     num_attention_heads=2, image_size=32, patch_size=16, projection_dim=32),
                    ).save_pretrained(target / "image_encoder")
    _rewrite(target / "image_encoder",
             lambda state: {key if key.startswith("vision_model.") else f"vision_model.{key}": value
                            for key, value in state.items()})
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        target / "image_processor")
    WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=24, in_channels=36, out_channels=16,
        text_dim=TEXT_DIM, freq_dim=32, ffn_dim=64, num_layers=2, rope_max_seq_len=64,
        image_dim=32, added_kv_proj_dim=48,
    ).save_pretrained(target / "transformer")
    _rewrite(target / "transformer",
             lambda state: {**state, **{f"blocks.{i}.attn2.norm_added_q.weight": torch.ones(48) for i in range(2)}})
    (target / "model_index.json").write_text(json.dumps({
        "_class_name": "WanImageToVideoPipeline", "_diffusers_version": "0.42.1", **MODULES,
        "image_encoder": ["transformers", "CLIPVisionModel"],
        "image_processor": ["transformers", "CLIPImageProcessor"]}, indent=2))


def install_in_cache(hf_home: Path, repo_id: str = REPO_ID, builder=build) -> Path:  # type: ignore[no-untyped-def]
    """Lay a checkpoint out as huggingface_hub's cache does for its repo id."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    revision = hashlib.sha1(repo_id.encode()).hexdigest()  # any 40 hex digits name the snapshot
    snapshot = repo / "snapshots" / revision
    hf_home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=hf_home) as scratch:
        builder(Path(scratch) / "model")
        if repo.exists():
            shutil.rmtree(repo)
        snapshot.parent.mkdir(parents=True)
        shutil.move(str(Path(scratch) / "model"), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


if __name__ == "__main__":
    home = Path(sys.argv[1]).resolve()
    print(install_in_cache(home))
    print(install_in_cache(home, I2V_REPO_ID, build_i2v))
