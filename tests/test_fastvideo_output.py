"""The FastVideo output parser, on lines in the format FastVideo 0.2.1 prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastvideo_ui.backends.fastvideo_output import Notice, OutputParser, Phase, Step, clock_seconds, parse_bar

# Captured in FastVideo's formats: its logger (fastvideo/logger.py _FORMAT),
# tqdm's default bar for `tqdm(total=N)` on a pipe (10-character bar), and the
# prefix its GPU workers' output carries.
W = "\x1b[1;36m(Worker pid=5194)\x1b[0;0m "
RUN = (
    "INFO 11-25 02:40:00.101 [composed_pipeline_base.py:113] Loading pipeline modules...\n"
    "Loading checkpoint shards: 100%|██████████| 3/3 [00:04<00:00,  1.41s/it]\n"
    "INFO 11-25 02:40:10.001 [video_generator.py:773] height: 480\n"
    f"{W}INFO 11-25 02:40:09.500 [composed_pipeline_base.py:276] Creating pipeline stages...\n"
    "INFO 11-25 02:40:10.001 [video_generator.py:773] prompt: a clock at 10:30 on 2025/11/24, 1/2 of it 50%|x| 1/2\n"
    "INFO 11-25 02:40:10.010 [base.py:148] [input_validation_stage|InputValidationStage] Starting execution\n"
    "INFO 11-25 02:40:10.020 [base.py:148] [prompt_encoding_stage|TextEncodingStage] Starting execution\n"
    "INFO 11-25 02:40:11.020 [base.py:148] [latent_preparation_stage|LatentPreparationStage] Starting execution\n"
    f"{W}INFO 11-25 02:40:11.030 [base.py:148] [denoising_stage|DenoisingStage] Starting execution\n"
    f"{W}\r  0%|          | 0/4 [00:00<?, ?it/s]"
    "\r 25%|██▌       | 1/4 [00:02<00:06,  2.01s/it]"
    "\r 50%|█████     | 2/4 [00:04<00:04,  2.00s/it]"
    "\r 75%|███████▌  | 3/4 [00:06<00:02,  2.00s/it]"
    "\r100%|██████████| 4/4 [00:08<00:00,  2.00s/it]\n"
    "INFO 11-25 02:40:19.100 [base.py:148] [decoding_stage|DecodingStage] Starting execution\n"
    "INFO 11-25 02:40:25.000 [video_generator.py:865] Generated successfully in 15.00 seconds\n"
    "INFO 11-25 02:40:25.500 [video_generator.py:991] Saved video to /out/x.mp4\n"
)


def summarize(events: list) -> list:
    return [e.name if isinstance(e, Phase) else (e.index, e.total) for e in events]


def test_a_whole_run_gives_phases_and_every_step() -> None:
    parser = OutputParser()
    assert summarize(parser.feed(RUN)) == [
        "loading model", "validating input", "encoding prompt", "preparing latents",
        "denoising", (0, 4), (1, 4), (2, 4), (3, 4), (4, 4), "decoding", "saving",
    ]


def test_any_chunking_gives_the_same_events() -> None:
    whole = summarize(OutputParser().feed(RUN))
    for size in (1, 2, 3, 7, 64):
        parser = OutputParser()
        events = []
        for start in range(0, len(RUN), size):
            events += parser.feed(RUN[start:start + size])
        assert summarize(events) == whole, size


def test_a_bar_is_reported_when_it_arrives_not_at_the_next_one() -> None:
    parser = OutputParser()
    parser.feed("INFO 11-25 02:40:11.030 [base.py:148] [denoising_stage|DenoisingStage] Starting execution\n")
    assert summarize(parser.feed("\r 25%|██▌       | 1/4 [00:02<00:06,  2.01s/it]")) == [(1, 4)]
    assert summarize(parser.feed("\r 50%|█████     | 2/4 [00:04<00:04,  2.00s/it]")) == [(2, 4)]
    assert summarize(parser.feed("\n")) == []


def test_eta_comes_from_the_bar() -> None:
    step = parse_bar(" 10%|█         | 5/50 [00:10<01:30,  2.00s/it]")
    assert step == Step(5, 50, 90.0)
    assert parse_bar("  0%|          | 0/50 [00:00<?, ?it/s]") == Step(0, 50, None)
    assert clock_seconds("1:02:03") == 3723.0


def test_things_that_look_like_progress_are_not() -> None:
    for text in ("2025/11/24 10:30", "step 1/2", "prompt: 1/2 of a cake", "50%|x| 1/2",
                 "Loading checkpoint shards:  67%|██████▋   | 2/3 [00:03<00:01,  1.50s/it]",
                 "100%|██████████| 6/4 [00:08<00:00,  2.00s/it]"):
        assert parse_bar(text) is None, text
    parser = OutputParser()
    parser.feed("INFO 11-25 02:40:11.030 [base.py:148] [decoding_stage|DecodingStage] Starting execution\n")
    # A bar outside denoising (e.g. a VAE tiling bar) is not the job's progress.
    assert summarize(parser.feed(" 50%|█████     | 1/2 [00:01<00:01,  1.00it/s]\n")) == []
    echo = "INFO 11-25 02:40:10.001 [video_generator.py:773] prompt:  50%|█| 1/2 [00:01<00:01,  1.00it/s]"
    assert parse_bar(echo) is None


def test_without_stage_logging_the_bar_still_counts() -> None:
    parser = OutputParser()
    assert summarize(parser.feed("\r 50%|█████     | 2/4 [00:04<00:04,  2.00s/it]\n")) == [(2, 4)]


def test_bars_that_name_denoising_count() -> None:
    # LongCat's and Kandinsky5's denoising bars carry a description.
    for desc in ("LongCat Denoising", "Kandinsky5 Denoising", "Kandinsky5 DMD Denoising"):
        parser = OutputParser()
        parser.feed("INFO 11-25 02:40:11.030 [base.py:148] [denoising_stage|LongCatDenoisingStage] "
                    "Starting execution\n")
        assert summarize(parser.feed(f"\r{desc}:  40%|████      | 20/50 [00:10<00:15,  2.00it/s]")) == [(20, 50)]


def test_bars_from_every_rank_never_go_back() -> None:
    # LTX-2 draws its bar on every rank; rank 1 may lag behind rank 0.
    parser = OutputParser()
    parser.feed("INFO 11-25 02:40:11.030 [base.py:148] [ltx2_denoising_stage|LTX2DenoisingStage] Starting execution\n")
    lines = ["\r 30%|███       | 3/10 [00:03<00:07,  1.00s/it]", "\r 20%|██        | 2/10 [00:02<00:08,  1.00s/it]",
             "\r 40%|████      | 4/10 [00:04<00:06,  1.00s/it]", "\r 30%|███       | 3/10 [00:03<00:07,  1.00s/it]"]
    assert summarize([e for line in lines for e in parser.feed(line)]) == [(3, 10), (4, 10)]
    # A later denoising stage (LTX-2's refine) starts its own count.
    parser.feed("\nINFO 11-25 02:40:21.030 [base.py:148] [ltx2_refine_denoising_stage|LTX2DenoisingStage] "
                "Starting execution\n")
    assert summarize(parser.feed("\r 50%|█████     | 1/2 [00:01<00:01,  1.00s/it]")) == [(1, 2)]


def test_a_failing_gpu_workers_report_is_kept() -> None:
    parser = OutputParser()
    parser.feed(
        f"{W}INFO 11-25 02:40:11.030 [base.py:148] [denoising_stage|DenoisingStage] Starting execution\n"
        f"{W}ERROR 11-25 02:40:12.000 [multiproc_executor.py:591] Worker 1 hit an exception: Traceback (most recent "
        "call last):\n"
        f"{W}ERROR 11-25 02:40:12.000 [multiproc_executor.py:591]   File \"denoising.py\", line 465, in forward\n"
        f"{W}ERROR 11-25 02:40:12.000 [multiproc_executor.py:591] torch.OutOfMemoryError: CUDA out of memory. "
        "Tried to allocate 20.00 GiB. GPU 1 has a total capacity\n"
        "INFO 11-25 02:40:12.100 [multiproc_executor.py:324] Shutting down MultiprocExecutor...\n")
    assert parser.worker_error is not None
    assert parser.worker_error == ("rank 1: Traceback (most recent call last):\n  File \"denoising.py\", line 465, "
                                   "in forward\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
                                   "20.00 GiB. GPU 1 has a total capacity")
    parser.reset()
    assert parser.worker_error is None


def echo(prompt: str, negative: str) -> str:
    """FastVideo's parameter log (video_generator.py's debug_str): its logger repeats the head on every line."""
    head = "INFO 11-25 02:40:10.001 [video_generator.py:773] "
    message = f"\n      prompt: {prompt}\n  neg_prompt: {negative}\n        seed: 1024\n"
    return head + message.replace("\n", "\n" + head) + "\n"


def test_a_prompt_on_its_log_line_is_never_a_bar() -> None:
    # One line, no control character: the bar's description would be the log head and "prompt: denoising".
    line = echo("denoising: 95%|#| 19/20 [00:01<00:00, 1.00it/s]", "")
    assert summarize(OutputParser().feed(line)) == []
    assert parse_bar(line.splitlines()[1]) is None


def test_the_lines_of_a_prompt_stored_before_the_one_line_rule_are_not_progress() -> None:
    prompt = "a fox\r 95%|#| 19/20 [00:01<00:00, 1.00it/s]"
    negative = "blur\n[decoding_stage] Starting execution"  # the log head comes with the echo
    # Their echo, read as FastVideo's output, fakes a step and a phase...
    assert summarize(OutputParser().feed(echo(prompt, negative))) == [(19, 20), "decoding"]
    # ...unless the parser knows this generation's prompts.
    parser = OutputParser()
    parser.expect_echo_of(prompt, negative)
    assert summarize(parser.feed(echo(prompt, negative))) == []
    assert summarize(parser.feed(RUN)) == summarize(OutputParser().feed(RUN))
    parser.reset()  # the next generation has prompts of its own
    assert summarize(parser.feed(echo(prompt, negative))) == [(19, 20), "decoding"]


def test_the_backend_tells_the_parser_its_jobs_prompts(tmp_path: Path) -> None:
    from job_values import job_params

    from fastvideo_ui.backends.base import GenerationRequest
    from fastvideo_ui.backends.fastvideo import FastVideoBackend

    prompt, negative = "a fox\r 95%|#| 19/20 [00:01<00:00, 1.00it/s]", "blur"
    backend = FastVideoBackend()
    seen: list[Any] = []

    class Generator:
        """Stands in for VideoGenerator: echoes the prompt into the output, as FastVideo does, and saves a file."""

        def generate_video(self, prompt: str, output_path: str, **kwargs: Any) -> dict[str, str]:
            backend._on_text(echo(prompt, kwargs["negative_prompt"]) + RUN)
            Path(output_path).write_bytes(b"not really an mp4")
            return {"video_path": output_path}

    class Reporter:
        def phase(self, name: str) -> None:
            seen.append(name)

        def step(self, index: int, total: int) -> None:
            seen.append((index, total))

        def check_stop(self) -> None:
            pass

    backend.generator = Generator()
    request = GenerationRequest("j", job_params(prompt=prompt, negative_prompt=negative, num_inference_steps=4,
                                                num_frames=5, height=64, width=64, guidance_scale=1.0, seed=7, fps=16),
                                tmp_path / "j.mp4", tmp_path / "j.jpg")
    backend.generate(request, Reporter())
    assert (19, 20) not in seen and [(1, 4), (2, 4), (3, 4), (4, 4)] == [s for s in seen if isinstance(s, tuple)]


def test_a_lora_that_reached_no_layer_or_left_weights_over_is_a_notice() -> None:
    # pipelines/lora_pipeline.py's lines, as FastVideo 0.2.1's rank-0 GPU worker logs them.
    head = "\x1b[1;36m(Worker pid=7)\x1b[0;0m {} 12-06 10:00:00.000 [lora_pipeline.py:{}] "
    text = (head.format("INFO", 462) + "Rank 0: LoRA adapter /l/a.safetensors applied to 0 layers\n"
            + head.format("INFO", 462) + "Rank 0: LoRA adapter /l/b.safetensors applied to 24 layers\n"
            + head.format("WARNING", 475) + "LoRA adapter /l/b.safetensors: 3 weights did not reach a layer\n"
            + head.format("INFO", 462) + "Rank 1: LoRA adapter /l/a.safetensors applied to 0 layers\n")
    events = OutputParser().feed(text)
    assert events == [Notice("/l/a.safetensors", layers=0), Notice("/l/b.safetensors", unmatched_weights=3)]
