"""FastVideo's console output, read for progress.

FastVideo 0.2.1 has no per-step callback. Its rank-0 GPU worker draws a tqdm
bar for the denoising loop on stderr, and with FASTVIDEO_STAGE_LOGGING=1 its
pipeline logs each stage as it starts. `OutputParser` turns that text into
phases and steps; it is pure, and unit-tested on lines in FastVideo's format.

It is strict on purpose: a step is only a whole tqdm bar, seen while
denoising, with no description (the Wan and most pipelines' bar) or one that
names denoising (LongCat's "LongCat Denoising", Kandinsky5's); "Loading
checkpoint shards: ..." is not one. A date, or "1/2" inside an echoed prompt,
is not progress. LTX-2 draws its bar on every rank, so a step never goes back
within one bar.

FastVideo echoes the prompt. The API refuses control characters in prompts
(prompts.py), so an echo stays on its one log line; for a job stored
before that rule, each line of its prompts after the first is told apart
(`expect_echo_of`) and never read as progress.

FastVideo only logs a LoRA that reached no layer of the model (it skips keys
it cannot map): "applied to 0 layers", or "N weights did not reach a layer".
Those lines become a `Notice`, which the backend turns into the job's warning.

It also keeps what a failing GPU worker logs ("Worker N hit an exception:"
and its traceback): FastVideo's parent only learns "Forward execution thread
failed", and the real cause (a CUDA out-of-memory, say) is in that text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `INFO 11-25 02:40:00.123 [denoising.py:371] message`, maybe after a prefix.
# FastVideo's logger repeats this head on every line of a multi-line message.
_LOG_LINE = re.compile(
    r"(?P<head>(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) \d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[[\w./-]+:\d+\]) "
    r"(?P<message>.*)$"
)
# ` 40%|████      | 20/50 [00:10<00:15,  2.00it/s]` (also `s/it`, `?` while unknown),
# maybe after a description: `LongCat Denoising:  40%|...`
_TQDM = re.compile(
    r"^(?:(?P<desc>[^|%]*?): ?)?\s*(?P<percent>\d{1,3})%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<elapsed>\d+(?::\d\d){1,2})<(?P<remaining>\d+(?::\d\d){1,2}|\?)"
    r",\s*(?P<rate>\?|[\d.]+)\s*(?:it/s|s/it)\]\s*$"
)
# FastVideo prefixes its GPU workers' output: `\x1b[1;36m(Worker pid=123)\x1b[0;0m `.
_WORKER_PREFIX = re.compile(r"^(?:\x1b\[[\d;]*m)?\(Worker pid=\d+\)(?:\x1b\[[\d;]*m)? ?")
_WORKER_ERROR = re.compile(r"^Worker (?P<rank>\d+) hit an exception: ?(?P<text>.*)$")
MAX_ERROR_LINES = 400
_RECORD_END = re.compile(r"\r\n|\r|\n")  # tqdm ends its records with "\r", logs with "\n"
# pipelines/lora_pipeline.py (0.2.1), on rank 0: after every set_lora_adapter, and for weights left over.
_LORA_APPLIED = re.compile(r"^Rank 0: LoRA adapter (?P<path>.+) applied to (?P<layers>\d+) layers$")
_LORA_UNMATCHED = re.compile(r"^LoRA adapter (?P<path>.+): (?P<weights>\d+) weights did not reach a layer$")
_STAGE_START = re.compile(r"^\[(?P<key>\w+)(?:\|(?P<cls>\w+))?\] Starting execution")

_STAGE_PHASES = (
    ("denois", "denoising"),
    ("decod", "decoding"),
    ("encod", "encoding prompt"),
    ("latent", "preparing latents"),
    ("timestep", "preparing latents"),
    ("conditioning", "encoding prompt"),
    ("validation", "validating input"),
)
_MESSAGE_PHASES = (
    # Not "Creating pipeline stages": the GPU worker logs it at every generation too.
    ("Loading pipeline modules", "loading model"),
    ("Generated successfully in", "saving"),
)


@dataclass(frozen=True)
class Step:
    index: int
    total: int
    eta_seconds: float | None


@dataclass(frozen=True)
class Phase:
    name: str


@dataclass(frozen=True)
class Notice:
    """A LoRA FastVideo applied only in part, or not at all: `layers` it reached (None: not said), `weights`
    of it that reached none (None: not said)."""

    lora_path: str
    layers: int | None = None
    unmatched_weights: int | None = None


def parse_notice(record: str) -> Notice | None:
    match = _LOG_LINE.search(record)
    if not match:
        return None
    # A switch by nickname logs its path as "None": a LoRA back at strength 0, not one a job applies.
    applied = _LORA_APPLIED.match(match["message"])
    if applied:
        layers = int(applied["layers"])
        return Notice(applied["path"], layers=layers) if layers == 0 and applied["path"] != "None" else None
    unmatched = _LORA_UNMATCHED.match(match["message"])
    if unmatched is None or unmatched["path"] == "None":
        return None
    return Notice(unmatched["path"], unmatched_weights=int(unmatched["weights"]))


def clock_seconds(text: str) -> float | None:
    """`01:05` -> 65.0, `1:00:00` -> 3600.0, `?` -> None."""
    if not text or text == "?":
        return None
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return float(seconds)


def parse_bar(record: str) -> Step | None:
    match = _TQDM.match(record)
    if not match or _LOG_LINE.search(record):  # a log line (a prompt's echo among them) is never a bar
        return None
    if match["desc"] and "denois" not in match["desc"].lower():
        return None
    index, total = int(match["n"]), int(match["total"])
    if total <= 0 or index > total:
        return None
    return Step(index, total, clock_seconds(match["remaining"]))


def parse_phase(record: str) -> Phase | None:
    match = _LOG_LINE.search(record)
    if not match:
        return None
    message = match["message"]
    stage = _STAGE_START.match(message)
    if stage:
        key = f"{stage['key']} {stage['cls'] or ''}".lower()
        for needle, phase in _STAGE_PHASES:
            if needle in key:
                return Phase(phase)
        return None
    for start, phase in _MESSAGE_PHASES:
        if message.startswith(start):
            return Phase(phase)
    return None


class OutputParser:
    """Feed it text as it arrives; it returns the phases and steps it finds.

    tqdm rewrites its bar with `\\r`, so records end at `\\r` or `\\n`. A bar
    that has arrived whole but not yet been ended by the next `\\r` is parsed
    at once (it ends with `]`), so a step is never reported one step late.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._parsed_pending: str | None = None
        self.phase: str | None = None
        self._stage_logging_seen = False
        self._last_step: tuple[int, int] = (0, 0)  # (index, total) of the last step reported
        self.worker_error: str | None = None  # what the last failing GPU worker logged
        self._error_lines: list[str] | None = None  # collecting one now
        self._error_head = ""  # the log head its lines repeat
        self._echoes: frozenset[str] = frozenset()  # lines of this generation's prompts that start a record

    def reset(self) -> None:
        """A new generation (or load) starts: forget the last one's phase, errors and prompts."""
        self.phase = None
        self._stage_logging_seen = False
        self._last_step = (0, 0)
        self.worker_error = None
        self._error_lines = None
        self._echoes = frozenset()

    def expect_echo_of(self, *texts: str | None) -> None:
        """This generation's prompts: a record that is one of their later lines
        (after a "\r", or after a "\n" and the log head FastVideo repeats) is
        the prompt's text, never a bar, a stage or an error."""
        self._echoes = frozenset(line.strip() for text in texts if text
                                 for line in _RECORD_END.split(text)[1:] if line.strip())

    def feed(self, text: str) -> list[Step | Phase | Notice]:
        events: list[Step | Phase | Notice] = []
        records = _RECORD_END.split(self._pending + text)
        self._pending = records.pop()
        for number, record in enumerate(records):
            if number == 0 and record == self._parsed_pending:
                continue  # the bar parsed early, now ended
            self._parse(record, events)
        self._parsed_pending = None
        if self._pending.rstrip().endswith("]") and parse_bar(self._pending):
            self._parse(self._pending, events)
            self._parsed_pending = self._pending
        return events

    def _parse(self, record: str, events: list[Step | Phase | Notice]) -> None:
        record = _WORKER_PREFIX.sub("", record)
        if self._echoes and self._is_echo(record):
            return
        if self._collect_error(record):
            return
        notice = parse_notice(record)
        if notice is not None:
            events.append(notice)
            return
        phase = parse_phase(record)
        if phase is not None:
            if phase.name != "loading model":
                self._stage_logging_seen = True
            if phase.name == "denoising":
                self._last_step = (0, 0)  # a new denoising stage (LTX-2's refine) starts its own bar
            self.phase = phase.name
            events.append(phase)
            return
        # Bars outside denoising (and there are some) are not its progress.
        # Without stage logging (phase unknown), the first bar is denoising's.
        if self.phase == "denoising" or (not self._stage_logging_seen and self.phase != "loading model"):
            step = parse_bar(record)
            if step is not None and not self._goes_back(step):
                self._last_step = (step.index, step.total)
                events.append(step)

    def _is_echo(self, record: str) -> bool:
        match = _LOG_LINE.search(record)
        return (match["message"] if match else record).strip() in self._echoes

    def _goes_back(self, step: Step) -> bool:
        last_index, last_total = self._last_step
        return step.total == last_total and step.index < last_index

    def _collect_error(self, record: str) -> bool:
        """Keep a GPU worker's error report; True if the record was part of one."""
        match = _LOG_LINE.search(record)
        if self._error_lines is not None and (match is None or match["head"] == self._error_head):
            if len(self._error_lines) < MAX_ERROR_LINES:
                self._error_lines.append(match["message"] if match else record)
                self.worker_error = "\n".join(self._error_lines)
            return True
        self._error_lines = None  # another log record ends a report
        failure = _WORKER_ERROR.match(match["message"]) if match else None
        if failure is None:
            return False
        self._error_lines = [f"rank {failure['rank']}: {failure['text']}"]
        self._error_head = match["head"] if match else ""
        self.worker_error = self._error_lines[0]
        return True
