"""Server settings: command-line flags, with environment variables as defaults.

Each setting is one `option(...)` on its Settings field (settings_table.py
makes the flag, the environment variable, the help line and the bound check
from it); the checks that weigh one setting against another, and the reading
of the two secrets, are written out below `Settings`."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .auth.strength import TOKEN_RULE, weakness
from .settings_table import ENV_PREFIX, add_arguments, check_bounds, entries, given, option

if TYPE_CHECKING:
    from .webhooks.targets import TargetPolicy

MIN_EVENT_REPLAY_BYTES = 1024 * 1024
MIN_IMAGE_MEMORY = 16 * 1024 * 1024
MIN_IMAGE_METADATA = 64 * 1024
MIN_LORA_BYTES = 1024 * 1024
TOKEN_ADVICE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "fastvideo-ui"


# In the order --help lists them.
@dataclass
class Settings:
    host: str = option("--host", "127.0.0.1", "address to bind")
    port: int = option("--port", 8189, "port")
    data_dir: Path = option("--data-dir", None, "where the job database lives", factory=default_data_dir)
    output_dir: Path | None = option("--output-dir", None, "where videos are written", default_text="DATA_DIR/outputs")
    log_dir: Path | None = option("--log-dir", None, "where job logs are written", default_text="DATA_DIR/logs")
    lora_dir: Path | None = option("--lora-dir", None, "the LoRA library: the .safetensors adapters jobs may "
                                   "name, uploaded or copied in", default_text="DATA_DIR/loras")
    gpus: str | None = option("--gpus", None, "GPU ids to use, e.g. 0,1, or 'none'",
                              default_text="CUDA_VISIBLE_DEVICES, else all NVML sees")
    ray_address: str | None = option(
        "--ray", None, "run GPU jobs on a Ray cluster: 'auto', HOST:PORT or ray://HOST:PORT; needs pip install "
        "'fastvideo-ui[ray]', and keep Ray on a private network", metavar="ADDRESS", default_text="none: local workers")
    ray_shared_dir: Path | None = option(
        "--ray-shared-dir", None, "with --ray: a directory every node and this server mount at the same path; "
        "videos are written there and moved home, instead of sent through Ray's object store", metavar="DIR")
    cpu_slots: int = option("--cpu-slots", 1, "preview-renderer jobs that may run at once", minimum=0)
    affinity_wait_s: float = option(  # placement's bypass_limit_s
        "--affinity-wait", 0.0, "how long past the time it would have started in a strict queue a job may still "
        "be passed by jobs whose model is already loaded", minimum=0, metavar="S")
    max_downloads: int = option("--max-downloads", 2, "model weight fetches at once; more wait their turn",
                                minimum=1, metavar="N")
    metrics_public: bool = option("--metrics-public", False, "serve /metrics without the API token",
                                  default_text="off: the token guards it, when one is set")
    stop_grace_s: float = option("--stop-grace", 10.0, "seconds a stopped job gets to stop by itself before its "
                                 "worker is killed", minimum=0)
    cors_origins: list[str] = option("--cors-origin", [], "allow a browser app on this origin to call the API",
                                     env="CORS_ORIGINS", repeat=True)
    allowed_hosts: list[str] = option(  # Host names answered beyond the built-in ones
        "--allowed-host", [], "also answer requests for this host name, e.g. gpu-box.lan or *.lan",
        env="ALLOWED_HOSTS", repeat=True, metavar="NAME",
        default_text="none beyond IP addresses, localhost and this machine's name, which always are")
    trusted_proxies: list[str] = option("--trusted-proxy", [], "believe X-Forwarded-For/-Proto from this proxy "
                                        "address", env="TRUSTED_PROXIES", repeat=True, metavar="ADDRESS",
                                        default_text="none: believed from nobody")
    api_token: str | None = option("--api-token", None, "require this bearer token on /api; prefer the env var "
                                   "or --api-token-file: a flag shows in `ps`", secret=True)
    api_token_file: str | None = option("--api-token-file", None, "read the API token from this file's first line")
    insecure_no_auth: bool = option("--insecure-no-auth", False,
                                    "allow listening on a non-loopback address without a token")
    max_queued: int = option("--max-queued", 1000, "queued jobs beyond this are refused with 429", minimum=1)
    max_sessions: int = option("--max-sessions", 1000, "signed-in browsers kept (with a token); signing in past "
                               "this ends the oldest session", minimum=1)
    max_wrong_tokens: int = option(  # grouped by address as addresses.py does
        "--max-wrong-tokens", 10, "wrong tokens or session cookies one address may present in a minute; past "
        "this it gets 429 until the minute has passed; every loopback address is one", minimum=1, metavar="N")
    header_timeout_s: float = option("--header-timeout", 10.0, "seconds a request's headers may take to arrive "
                                     "before the connection is closed", above=0, unit="seconds")
    max_connections: int = option("--max-connections", 1024, "connections open at once, kept below the file "
                                  "descriptor limit; more are closed on arrival", minimum=1)
    max_connections_per_client: int = option(
        "--max-connections-per-client", 256, "connections open at once from one address; behind a proxy, every "
        "client is the proxy's address. A newcomer past this or --max-connections takes the place of the "
        "connection that has waited longest without its request in", minimum=1, metavar="N")
    body_idle_timeout_s: float = option("--body-idle-timeout", 10.0, "seconds a request body may go without a "
                                        "byte before the connection is closed", above=0, unit="seconds", metavar="S")
    body_timeout_s: float = option("--body-timeout", 30.0, "seconds a request body must arrive in, plus one for "
                                   "every --body-min-rate bytes it sends", above=0, unit="seconds", metavar="S")
    body_min_rate: int = option("--body-min-rate", 64 * 1024, "bytes a second an upload must keep up, past "
                                "--body-timeout", minimum=1, unit="byte a second", metavar="BYTES")
    write_timeout_s: float = option("--write-timeout", 30.0, "seconds a response may wait for a client that "
                                    "reads nothing before the connection is closed, event streams included",
                                    above=0, unit="seconds", metavar="S")
    max_pipelined: int = option("--max-pipelined", 16, "requests one connection may queue behind the one being "
                                "answered (HTTP pipelining); past it the connection is closed", minimum=1, metavar="N")
    # where job events go when a job names no webhook_url of its own (repr=False: it may hold a password)
    webhook_url: str | None = option("--webhook-url", None, "post every job's started/completed/failed/stopped "
                                     "events here, unless the job names its own webhook_url", metavar="URL",
                                     repr=False)
    webhook_secret_file: str | None = option(
        "--webhook-secret-file", None, "read the key that signs webhooks from this file's first line, "
        "or from FASTVIDEO_UI_WEBHOOK_SECRET itself", metavar="FILE",
        default_text="DATA_DIR/webhook-secret, made once")
    webhook_secret: str | None = option(None, None, "the key that signs webhooks", env="WEBHOOK_SECRET", secret=True)
    webhook_allow_local: bool = option(
        "--webhook-allow-local", False, "allow webhooks to any address: loopback, link-local, this machine's own, "
        "cloud metadata, private", default_text="off: a job could otherwise make this server post to services "
        "that trust this machine")
    webhook_allow_networks: list[str] = option(
        "--webhook-allow-network", [], "allow webhooks to this private network, e.g. 10.0.0.0/8 or fd00::/8; "
        "this machine's own and metadata addresses stay refused", env="WEBHOOK_ALLOW_NETWORKS", repeat=True,
        metavar="CIDR", default_text="none: private, shared and reserved addresses are refused")
    webhook_timeout_s: float = option("--webhook-timeout", 10.0, "seconds one webhook post may take, connect to "
                                      "last byte, before it counts as failed", above=0, unit="seconds", metavar="S")
    webhook_posts_per_target: int = option(
        "--webhook-posts-per-target", 2, "webhook posts in flight at once to one receiver (the address connected "
        "to, and its port), of the 8 in flight in all, so a slow one cannot hold up the others", minimum=1,
        metavar="N")
    webhook_attempts: int = option("--webhook-attempts", 8, "tries per webhook delivery", minimum=1)
    webhook_backoff_s: float = option("--webhook-backoff", 5.0, "seconds before a failed delivery's second try, "
                                      "doubled for each after: at the defaults, eight tries span about ten minutes",
                                      minimum=0, metavar="S")
    max_image_decodes: int = option("--max-image-decodes", 2, "uploaded images opened or decoded at once, each "
                                    "taking up to --max-image-memory; more wait", minimum=1, metavar="N")
    max_image_memory: int = option(
        "--max-image-memory", 80 * 1024 * 1024, "the memory one uploaded image may take while decoded, estimated "
        "from its headers before a pixel is: the file, 4 bytes a pixel, a progressive JPEG's coefficients, a "
        "WebP's 16 bytes a pixel and its file twice more", minimum=MIN_IMAGE_MEMORY, size=True, metavar="BYTES",
        why="a 2048x2048 picture alone is 16 MiB decoded")
    max_image_metadata: int = option(
        "--max-image-metadata", 4 * 1024 * 1024, "metadata one uploaded image may carry (text, EXIF, XMP, ICC "
        "profile, other chunks; a PNG's text counted decompressed too); none of it is kept",
        minimum=MIN_IMAGE_METADATA, size=True, metavar="BYTES", why="a JPEG's EXIF alone may be 64 KiB")
    max_mp4_boxes: int = option("--max-mp4-boxes", 10_000, "boxes the MP4 settings reader walks in one file "
                                "before it gives up; a file this tool made has a few dozen", minimum=100,
                                metavar="N", why="an MP4 this tool made has a few dozen boxes")
    max_settings_reads: int = option(
        "--max-settings-reads", 2, "MP4s whose settings tag is read at once (POST /api/media/settings), each "
        "holding up to 1 MiB of tag and what it parses to; more wait", minimum=1, metavar="N")
    max_lora_bytes: int = option(
        "--max-lora-bytes", 4 * 1024**3, "the largest LoRA file an upload may send; it is streamed to disk, "
        "never held in memory", minimum=MIN_LORA_BYTES, size=True, metavar="BYTES",
        why="a small LoRA is a few MiB")
    event_replay_bytes: int = option(
        "--event-replay-bytes", 64 * 1024 * 1024, "the most the event stream keeps for clients that resume (and a "
        "quarter of it, the most one client may fall behind before it is dropped to resume)",
        minimum=MIN_EVENT_REPLAY_BYTES, size=True, metavar="BYTES", why="one job's event can be 80 KB")
    verbose: bool = option("--verbose", False, "log more")

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.output_dir = Path(self.output_dir or self.data_dir / "outputs").expanduser().resolve()
        self.log_dir = Path(self.log_dir or self.data_dir / "logs").expanduser().resolve()
        self.lora_dir = Path(self.lora_dir or self.data_dir / "loras").expanduser().resolve()
        if self.ray_shared_dir is not None:
            self.ray_shared_dir = Path(self.ray_shared_dir).expanduser().resolve()

    def webhook_policy(self) -> TargetPolicy:
        from .webhooks.targets import TargetPolicy

        return TargetPolicy.of(self.webhook_allow_local, self.webhook_allow_networks)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"


def child_environment() -> dict[str, str]:
    """The environment for a process this server starts (a worker, the Ray
    bridge, a weights fetch): the server's own, less its settings. Every
    secret the server holds comes in a FASTVIDEO_UI_ variable (the API token,
    the webhook secret, the files they are read from), and no child needs one:
    a child's own (its devices, its log nonce) are set afresh. HF_TOKEN stays:
    a worker's FastVideo downloads the weights the server did not fetch (on a
    Ray node, all of them), and a gated model needs it."""
    return {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, Settings)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The Settings the flags and environment give, or SystemExit saying what to change."""
    settings = Settings(**given(args, Settings))
    check_bounds(settings)
    check_together(settings)
    return settings


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback one."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def _secret_env(name: str) -> str | None:
    """A secret's environment variable, which is not its flag's default (see Setting.secret)."""
    return os.environ.get(next(entry.setting.env for entry in entries(Settings) if entry.name == name))


def _first_line(flag: str, path: str) -> str:
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except OSError as exc:
        raise SystemExit(f"{flag}: cannot read {path}: {exc.strerror}") from None
    return lines[0] if lines else ""


def _api_token(settings: Settings) -> str | None:
    token = settings.api_token or _secret_env("api_token")
    if settings.api_token_file:
        token = _first_line("--api-token-file", settings.api_token_file)
    if token is None:
        return None
    token = token.strip()
    weak = weakness(token)
    if weak:
        raise SystemExit(f"the API token is too weak ({weak}); it needs {TOKEN_RULE}. Make one with:\n"
                         f"  {TOKEN_ADVICE}")
    return token


def _webhook_secret(settings: Settings) -> str | None:
    if settings.webhook_secret_file:
        secret: str | None = _first_line("--webhook-secret-file", settings.webhook_secret_file).strip()
    else:
        secret = _secret_env("webhook_secret")
    weak = weakness(secret) if secret is not None else None
    if weak:
        raise SystemExit(f"the webhook secret is too weak ({weak}); it needs {TOKEN_RULE}. Make one with:\n"
                         f"  {TOKEN_ADVICE}  (or leave it unset: the server makes one)")
    return secret


def check_together(settings: Settings) -> None:
    """What the table cannot say: the settings that cannot work with the
    others given (each alone is in bounds), and the two secrets, read from
    their flag, variable or file and checked for strength."""
    if settings.ray_address is not None:
        _check_ray(settings.ray_address, settings.gpus)
    shared = settings.ray_shared_dir
    if shared is not None and not settings.ray_address:
        raise SystemExit("--ray-shared-dir is for --ray: without Ray, workers write straight into --output-dir")
    if shared is not None and not shared.is_dir():
        raise SystemExit(f"--ray-shared-dir: {shared} is not a directory here")
    try:
        policy = settings.webhook_policy()  # imported there, not here: most commands never check a webhook
    except ValueError as exc:
        raise SystemExit(f"--webhook-allow-network: {exc}") from None
    settings.webhook_url = settings.webhook_url or None  # an exported but empty variable names none
    problem = policy.url_problem(settings.webhook_url) if settings.webhook_url else None
    if problem:
        raise SystemExit(f"--webhook-url: {problem}")
    settings.api_token = _api_token(settings)
    _check_exposure(settings)
    settings.webhook_secret = _webhook_secret(settings)


def _check_ray(address: str, gpus: str | None) -> None:
    if not address.strip() or any(char.isspace() for char in address):
        raise SystemExit(f"--ray: {address!r} is not a Ray address; give 'auto', HOST:PORT or ray://HOST:PORT")
    if gpus is not None:
        raise SystemExit("--ray and --gpus: with --ray, jobs use the cluster's GPUs; drop --gpus")
    if importlib.util.find_spec("ray") is None:  # found without importing it: the server never does
        raise SystemExit("--ray needs Ray on this machine: pip install 'fastvideo-ui[ray]'")


def _check_exposure(settings: Settings) -> None:
    """Who may reach the server without a token: after the token is read."""
    token = settings.api_token
    if token is None and not settings.insecure_no_auth and not is_loopback(settings.host):
        raise SystemExit(
            f"refusing to listen on {settings.host} without an API token: anyone who can reach this port "
            f"could run jobs on your GPUs and read every video.\n"
            f"  Set a token:  export FASTVIDEO_UI_API_TOKEN=$({TOKEN_ADVICE})\n"
            f"           or:  --api-token-file FILE\n"
            f"  or listen on 127.0.0.1 only (the default), or pass --insecure-no-auth on a network you trust."
        )
    if "*" in settings.cors_origins and token is None:
        raise SystemExit("--cors-origin '*' lets every web page on the internet drive this server; "
                         "it needs an API token (or name the origins you use)")
