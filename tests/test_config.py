"""Flags and their environment variables: a bad value is a usage error naming both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastvideo_ui.config import child_environment


@pytest.mark.slow  # a server process each
@pytest.mark.parametrize("env,value,words", [
    ("FASTVIDEO_UI_PORT", "abc", "argument --port: 'abc' is not a whole number"),
    ("FASTVIDEO_UI_STOP_GRACE", "soon", "argument --stop-grace: 'soon' is not a number"),
    ("FASTVIDEO_UI_MAX_CONNECTIONS", "1.5", "argument --max-connections: '1.5' is not a whole number"),
])
def test_a_bad_environment_value_is_a_usage_error(tmp_path: Path, env: str, value: str, words: str) -> None:
    done = subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--data-dir", str(tmp_path)],
                          env=dict(os.environ, **{env: value}), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert words in done.stderr and env in done.stderr


def settings(*flags: str, **env: str):  # type: ignore[no-untyped-def]
    import argparse

    from fastvideo_ui.config import add_server_arguments, settings_from_args

    parser = argparse.ArgumentParser()
    old = dict(os.environ)
    os.environ.update(env)
    try:
        add_server_arguments(parser)
        return settings_from_args(parser.parse_args(list(flags)))
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_ray_comes_from_its_flag_or_the_environment(tmp_path: Path) -> None:
    assert settings("--data-dir", str(tmp_path), "--ray", "auto").ray_address == "auto"
    assert settings("--data-dir", str(tmp_path), FASTVIDEO_UI_RAY="ray://head:10001").ray_address == "ray://head:10001"
    assert settings("--data-dir", str(tmp_path)).ray_address is None


def test_max_downloads_comes_from_its_flag_or_the_environment_and_is_at_least_one(tmp_path: Path) -> None:
    assert settings("--data-dir", str(tmp_path)).max_downloads == 2
    assert settings("--data-dir", str(tmp_path), FASTVIDEO_UI_MAX_DOWNLOADS="3").max_downloads == 3
    assert settings("--data-dir", str(tmp_path), "--max-downloads", "1").max_downloads == 1
    with pytest.raises(SystemExit, match="--max-downloads must be 1 or more"):
        settings("--data-dir", str(tmp_path), "--max-downloads", "0")


@pytest.mark.parametrize("flags,words", [
    (["--ray", "head 6379"], "is not a Ray address"),
    (["--ray", "auto", "--gpus", "0"], "drop --gpus"),
    (["--ray-shared-dir", "/tmp"], "--ray-shared-dir is for --ray"),
    (["--ray", "auto", "--ray-shared-dir", "/no/such/dir"], "is not a directory here"),
])
def test_ray_flags_that_cannot_work_are_refused(tmp_path: Path, flags: list[str], words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        settings("--data-dir", str(tmp_path), *flags)


def test_ray_without_ray_installed_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(SystemExit, match=r"pip install 'fastvideo-ui\[ray\]'"):
        settings("--data-dir", str(tmp_path), "--ray", "auto")


@pytest.mark.parametrize("flags,words", [
    (("--body-idle-timeout", "0"), "--body-idle-timeout must be more than 0 seconds"),
    (("--body-timeout", "-1"), "--body-timeout must be more than 0 seconds"),
    (("--write-timeout", "0"), "--write-timeout must be more than 0 seconds"),
    (("--body-min-rate", "0"), "--body-min-rate must be 1 byte a second or more"),
    (("--max-connections-per-client", "0"), "--max-connections-per-client must be 1 or more"),
])
def test_connection_limits_refuse_what_cannot_work(flags: tuple[str, ...], words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        settings(*flags)


def test_connection_limits_come_from_the_environment_too() -> None:
    found = settings(FASTVIDEO_UI_WRITE_TIMEOUT="7", FASTVIDEO_UI_BODY_MIN_RATE="1000",
                     FASTVIDEO_UI_MAX_CONNECTIONS_PER_CLIENT="9")
    assert (found.write_timeout_s, found.body_min_rate, found.max_connections_per_client) == (7.0, 1000, 9)


def test_a_child_process_inherits_no_server_setting_or_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTVIDEO_UI_API_TOKEN", "token-0123456789abcdef")
    monkeypatch.setenv("FASTVIDEO_UI_WEBHOOK_SECRET", "whsec_0123456789abcdef")
    monkeypatch.setenv("FASTVIDEO_UI_API_TOKEN_FILE", "/etc/token")
    monkeypatch.setenv("HF_TOKEN", "hf_for_gated_weights")
    env = child_environment()
    assert not [name for name in env if name.startswith("FASTVIDEO_UI_")]
    assert env["HF_TOKEN"] == "hf_for_gated_weights" and env["PATH"] == os.environ["PATH"]


def test_the_memory_limits_come_from_their_flags_or_the_environment(tmp_path: Path) -> None:
    made = settings("--data-dir", str(tmp_path))
    assert (made.max_image_decodes, made.max_mp4_boxes, made.event_replay_bytes) == (2, 10_000, 64 * 2**20)
    assert made.max_settings_reads == 2
    made = settings("--data-dir", str(tmp_path), "--max-image-decodes", "1", "--max-mp4-boxes", "500",
                    "--max-settings-reads", "3", FASTVIDEO_UI_EVENT_REPLAY_BYTES=str(2**20))
    assert (made.max_image_decodes, made.max_mp4_boxes, made.event_replay_bytes) == (1, 500, 2**20)
    assert made.max_settings_reads == 3
    assert settings("--data-dir", str(tmp_path), FASTVIDEO_UI_MAX_SETTINGS_READS="4").max_settings_reads == 4
    made = settings("--data-dir", str(tmp_path))
    assert (made.max_image_memory, made.max_image_metadata) == (80 * 2**20, 4 * 2**20)
    made = settings("--data-dir", str(tmp_path), "--max-image-memory", str(100 * 2**20),
                    FASTVIDEO_UI_MAX_IMAGE_METADATA=str(2**20))
    assert (made.max_image_memory, made.max_image_metadata) == (100 * 2**20, 2**20)


@pytest.mark.parametrize("flags,words", [
    (["--max-image-decodes", "0"], "--max-image-decodes must be 1 or more"),
    (["--max-mp4-boxes", "10"], "--max-mp4-boxes must be 100 or more"),
    (["--max-settings-reads", "0"], "--max-settings-reads must be 1 or more"),
    (["--max-image-memory", str(2**20)], "--max-image-memory must be at least 16777216"),
    (["--max-image-metadata", "1000"], "--max-image-metadata must be at least 65536"),
    (["--event-replay-bytes", "65536"], "--event-replay-bytes must be at least 1048576"),
])
def test_memory_limits_out_of_bounds_are_refused(tmp_path: Path, flags: list[str], words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        settings("--data-dir", str(tmp_path), *flags)


@pytest.mark.parametrize("value,on", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False)])
def test_every_yes_no_setting_takes_the_same_words_from_the_environment(tmp_path: Path, value: str, on: bool) -> None:
    """--metrics-public took only 1; the others took 1, true or yes: all do now, from one rule."""
    env = {f"FASTVIDEO_UI_{name}": value for name in ("METRICS_PUBLIC", "VERBOSE", "WEBHOOK_ALLOW_LOCAL")}
    got = settings("--data-dir", str(tmp_path), **env)
    assert (got.metrics_public, got.verbose, got.webhook_allow_local) == (on, on, on)


def test_comma_separated_variables_are_lists_and_a_flag_given_replaces_them(tmp_path: Path) -> None:
    env = {"FASTVIDEO_UI_TRUSTED_PROXIES": "10.0.0.1,10.0.0.2", "FASTVIDEO_UI_ALLOWED_HOSTS": "gpu-box.lan"}
    got = settings("--data-dir", str(tmp_path), **env)
    assert (got.trusted_proxies, got.allowed_hosts, got.cors_origins) == (["10.0.0.1", "10.0.0.2"], ["gpu-box.lan"], [])
    got = settings("--data-dir", str(tmp_path), "--trusted-proxy", "10.0.0.9", **env)
    assert got.trusted_proxies == ["10.0.0.9"]
