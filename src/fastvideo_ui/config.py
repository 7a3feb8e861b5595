"""Server settings: command-line flags, with environment variables as defaults."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .auth.strength import TOKEN_RULE, weakness

if TYPE_CHECKING:
    from .webhooks.targets import TargetPolicy

ENV_PREFIX = "FASTVIDEO_UI_"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "fastvideo-ui"


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8189
    data_dir: Path = field(default_factory=default_data_dir)
    output_dir: Path | None = None
    log_dir: Path | None = None
    gpus: str | None = None  # None: detect
    ray_address: str | None = None  # GPU jobs run on this Ray cluster
    ray_shared_dir: Path | None = None  # mounted on every node too: videos come home through it
    cpu_slots: int = 1
    stop_grace_s: float = 10.0
    affinity_wait_s: float = 0.0  # placement's bypass_limit_s
    metrics_public: bool = False  # /metrics without the token
    cors_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)  # Host names answered beyond the built-in ones
    trusted_proxies: list[str] = field(default_factory=list)  # whose X-Forwarded-For is believed
    verbose: bool = False
    # repr=False: settings get logged and printed in tracebacks; the token must not be.
    api_token: str | None = field(default=None, repr=False)
    max_queued: int = 1000
    max_sessions: int = 1000  # signed-in browsers kept; past it, the oldest session ends
    max_wrong_tokens: int = 10  # a minute, from one address (addresses.py's grouping), before it is locked out
    header_timeout_s: float = 10.0  # a request's headers must arrive within this
    max_connections: int = 1024  # open at once; kept below the file descriptor limit
    max_connections_per_client: int = 256  # from one address
    body_idle_timeout_s: float = 10.0  # a request body may go this long without a byte
    body_timeout_s: float = 30.0  # a request body must be whole within this, plus a second per body_min_rate bytes
    body_min_rate: int = 64 * 1024
    write_timeout_s: float = 30.0  # a response nobody reads for this long is abandoned
    max_pipelined: int = 16  # requests queued on one connection behind the one being answered
    # where job events go when a job names no webhook_url of its own (repr=False: it may hold a password)
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)  # None: DATA_DIR/webhook-secret, made once
    webhook_allow_local: bool = False  # post to any address: loopback, this machine's, private
    webhook_allow_networks: list[str] = field(default_factory=list)  # private networks webhooks may go to (CIDR)
    webhook_attempts: int = 8
    webhook_backoff_s: float = 5.0  # before the second attempt; doubled for each one after
    webhook_timeout_s: float = 10.0  # one post, connect to last byte
    webhook_posts_per_target: int = 2  # in flight at once to one receiver
    max_downloads: int = 2  # weight fetches at once; the rest wait their turn
    max_image_decodes: int = 2  # uploaded images opened or decoded at once: each may take max_image_memory
    max_image_memory: int = 80 * 1024 * 1024  # one upload's decode, estimated from its headers
    max_image_metadata: int = 4 * 1024 * 1024  # text, EXIF, XMP, ICC and other chunks in one upload
    max_mp4_boxes: int = 10_000  # boxes the MP4 settings reader walks in one file
    max_settings_reads: int = 2  # MP4s whose settings are read at once: each may hold a few MB of tag
    event_replay_bytes: int = 64 * 1024 * 1024  # the SSE replay ring's frames, at most

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.output_dir = Path(self.output_dir or self.data_dir / "outputs").expanduser().resolve()
        self.log_dir = Path(self.log_dir or self.data_dir / "logs").expanduser().resolve()

    def webhook_policy(self) -> TargetPolicy:
        from .webhooks.targets import TargetPolicy

        return TargetPolicy.of(self.webhook_allow_local, self.webhook_allow_networks)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def child_environment() -> dict[str, str]:
    """The environment for a process this server starts (a worker, the Ray
    bridge, a weights fetch): the server's own, less its settings. Every
    secret the server holds comes in a FASTVIDEO_UI_ variable (the API token,
    the webhook secret, the files they are read from), and no child needs one:
    a child's own (its devices, its log nonce) are set afresh. HF_TOKEN stays:
    a worker's FastVideo downloads the weights the server did not fetch (on a
    Ray node, all of them), and a gated model needs it."""
    return {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}


def _number(kind: type[int] | type[float], env: str) -> Callable[[str], int | float]:
    """argparse's type for a number flag whose default may come from the environment:
    a bad value is a usage error that names both places, not a traceback."""
    def convert(text: str) -> int | float:
        try:
            return kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} (set by the flag or by {ENV_PREFIX}{env})"
                                             ) from None
    return convert


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1; env FASTVIDEO_UI_HOST)")
    parser.add_argument("--port", type=_number(int, "PORT"), default=_env("PORT", "8189"),
                        help="port (default 8189; env FASTVIDEO_UI_PORT)")
    parser.add_argument("--data-dir", default=_env("DATA_DIR"),
                        help=f"where the job database lives (default {default_data_dir()})")
    parser.add_argument("--output-dir", default=_env("OUTPUT_DIR"),
                        help="where videos are written (default DATA_DIR/outputs)")
    parser.add_argument("--log-dir", default=_env("LOG_DIR"),
                        help="where job logs are written (default DATA_DIR/logs)")
    parser.add_argument("--gpus", default=_env("GPUS"),
                        help="GPU ids to use, e.g. 0,1, or 'none' (default: CUDA_VISIBLE_DEVICES, else all NVML sees)")
    parser.add_argument("--ray", default=_env("RAY"), metavar="ADDRESS",
                        help="run GPU jobs on a Ray cluster: 'auto', HOST:PORT or ray://HOST:PORT "
                             "(needs pip install 'fastvideo-ui[ray]'; keep Ray on a private network)")
    parser.add_argument("--ray-shared-dir", default=_env("RAY_SHARED_DIR"), metavar="DIR",
                        help="with --ray: a directory every node and this server mount at the same path; videos "
                             "are written there and moved home, instead of sent through Ray's object store")
    parser.add_argument("--cpu-slots", type=_number(int, "CPU_SLOTS"), default=_env("CPU_SLOTS", "1"),
                        help="preview-renderer jobs that may run at once (default 1)")
    parser.add_argument("--affinity-wait", type=_number(float, "AFFINITY_WAIT"), default=_env("AFFINITY_WAIT", "0"),
                        metavar="S", help="how long past the time it would have started in a strict queue a job "
                                          "may still be passed by jobs whose model is already loaded (default 0)")
    parser.add_argument("--max-downloads", type=_number(int, "MAX_DOWNLOADS"), default=_env("MAX_DOWNLOADS", "2"),
                        metavar="N", help="model weight fetches at once; more wait their turn (default 2)")
    parser.add_argument("--metrics-public", action="store_true", default=_env("METRICS_PUBLIC") == "1",
                        help="serve /metrics without the API token (default: the token guards it, when one is set)")
    parser.add_argument("--stop-grace", type=_number(float, "STOP_GRACE"), default=_env("STOP_GRACE", "10"),
                        help="seconds a stopped job gets to stop by itself before its worker is killed (default 10)")
    parser.add_argument("--cors-origin", action="append", default=None,
                        help="allow a browser app on this origin to call the API (repeatable; default none)")
    parser.add_argument("--allowed-host", action="append", default=None, metavar="NAME",
                        help="also answer requests for this host name, e.g. gpu-box.lan or *.lan (repeatable; "
                             "IP addresses, localhost and this machine's name always are; "
                             "env FASTVIDEO_UI_ALLOWED_HOSTS, comma-separated)")
    parser.add_argument("--trusted-proxy", action="append", default=None, metavar="ADDRESS",
                        help="believe X-Forwarded-For/-Proto from this proxy address (repeatable; default: from "
                             "nobody; env FASTVIDEO_UI_TRUSTED_PROXIES, comma-separated)")
    parser.add_argument("--api-token", default=None,
                        help="require this bearer token on /api (prefer the env var or --api-token-file: "
                             "a flag shows in `ps`; env FASTVIDEO_UI_API_TOKEN)")
    parser.add_argument("--api-token-file", default=_env("API_TOKEN_FILE"),
                        help="read the API token from this file's first line")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        default=_env("INSECURE_NO_AUTH") in ("1", "true", "yes"),
                        help="allow listening on a non-loopback address without a token")
    parser.add_argument("--max-queued", type=_number(int, "MAX_QUEUED"), default=_env("MAX_QUEUED", "1000"),
                        help="queued jobs beyond this are refused with 429 (default 1000)")
    parser.add_argument("--max-sessions", type=_number(int, "MAX_SESSIONS"), default=_env("MAX_SESSIONS", "1000"),
                        help="signed-in browsers kept (with a token); signing in past this ends the oldest "
                             "session (default 1000)")
    parser.add_argument("--max-wrong-tokens", type=_number(int, "MAX_WRONG_TOKENS"),
                        default=_env("MAX_WRONG_TOKENS", "10"), metavar="N",
                        help="wrong tokens or session cookies one address may present in a minute; past this it "
                             "gets 429 until the minute has passed (default 10; every loopback address is one)")
    parser.add_argument("--header-timeout", type=_number(float, "HEADER_TIMEOUT"), default=_env("HEADER_TIMEOUT", "10"),
                        help="seconds a request's headers may take to arrive before the connection is closed "
                             "(default 10)")
    parser.add_argument("--max-connections", type=_number(int, "MAX_CONNECTIONS"),
                        default=_env("MAX_CONNECTIONS", "1024"),
                        help="connections open at once; more are closed on arrival (default 1024, and below "
                             "the file descriptor limit)")
    parser.add_argument("--max-connections-per-client", type=_number(int, "MAX_CONNECTIONS_PER_CLIENT"),
                        default=_env("MAX_CONNECTIONS_PER_CLIENT", "256"), metavar="N",
                        help="connections open at once from one address (default 256; behind a proxy, every "
                             "client is the proxy's address). A newcomer past this or --max-connections takes "
                             "the place of the connection that has waited longest without its request in")
    parser.add_argument("--body-idle-timeout", type=_number(float, "BODY_IDLE_TIMEOUT"),
                        default=_env("BODY_IDLE_TIMEOUT", "10"), metavar="S",
                        help="seconds a request body may go without a byte before the connection is closed "
                             "(default 10)")
    parser.add_argument("--body-timeout", type=_number(float, "BODY_TIMEOUT"), default=_env("BODY_TIMEOUT", "30"),
                        metavar="S", help="seconds a request body must arrive in, plus one for every "
                                          "--body-min-rate bytes it sends (default 30)")
    parser.add_argument("--body-min-rate", type=_number(int, "BODY_MIN_RATE"), default=_env("BODY_MIN_RATE", "65536"),
                        metavar="BYTES", help="bytes a second an upload must keep up, past --body-timeout "
                                              "(default 65536)")
    parser.add_argument("--write-timeout", type=_number(float, "WRITE_TIMEOUT"), default=_env("WRITE_TIMEOUT", "30"),
                        metavar="S", help="seconds a response may wait for a client that reads nothing before "
                                          "the connection is closed, event streams included (default 30)")
    parser.add_argument("--max-pipelined", type=_number(int, "MAX_PIPELINED"), default=_env("MAX_PIPELINED", "16"),
                        metavar="N", help="requests one connection may queue behind the one being answered (HTTP "
                                          "pipelining); past it the connection is closed (default 16)")
    parser.add_argument("--webhook-url", default=_env("WEBHOOK_URL"), metavar="URL",
                        help="post every job's started/completed/failed/stopped events here, unless the job names "
                             "its own webhook_url (env FASTVIDEO_UI_WEBHOOK_URL)")
    parser.add_argument("--webhook-secret-file", default=_env("WEBHOOK_SECRET_FILE"), metavar="FILE",
                        help="the key that signs webhooks (first line; env FASTVIDEO_UI_WEBHOOK_SECRET holds it "
                             "directly; default: made once and kept in DATA_DIR/webhook-secret)")
    parser.add_argument("--webhook-allow-local", action="store_true",
                        default=_env("WEBHOOK_ALLOW_LOCAL") in ("1", "true", "yes"),
                        help="allow webhooks to any address: loopback, link-local, this machine's own, cloud "
                             "metadata, private (refused by default: a job could otherwise make this server post "
                             "to services that trust this machine)")
    parser.add_argument("--webhook-allow-network", action="append", default=None, metavar="CIDR",
                        help="allow webhooks to this private network, e.g. 10.0.0.0/8 or fd00::/8 (repeatable; "
                             "default none: private, shared and reserved addresses are refused; this machine's "
                             "own and metadata addresses stay refused; env FASTVIDEO_UI_WEBHOOK_ALLOW_NETWORKS, "
                             "comma-separated)")
    parser.add_argument("--webhook-timeout", type=_number(float, "WEBHOOK_TIMEOUT"),
                        default=_env("WEBHOOK_TIMEOUT", "10"), metavar="S",
                        help="seconds one webhook post may take, connect to last byte, before it counts as failed "
                             "(default 10)")
    parser.add_argument("--webhook-posts-per-target", type=_number(int, "WEBHOOK_POSTS_PER_TARGET"),
                        default=_env("WEBHOOK_POSTS_PER_TARGET", "2"), metavar="N",
                        help="webhook posts in flight at once to one receiver (the address connected to, and its "
                             "port), so a slow one cannot hold up the others (default 2, of 8 in all)")
    parser.add_argument("--webhook-attempts", type=_number(int, "WEBHOOK_ATTEMPTS"),
                        default=_env("WEBHOOK_ATTEMPTS", "8"), help="tries per webhook delivery (default 8)")
    parser.add_argument("--webhook-backoff", type=_number(float, "WEBHOOK_BACKOFF"),
                        default=_env("WEBHOOK_BACKOFF", "5"), metavar="S",
                        help="seconds before a failed delivery's second try, doubled for each after (default 5: "
                             "eight tries span about ten minutes)")
    parser.add_argument("--max-image-decodes", type=_number(int, "MAX_IMAGE_DECODES"),
                        default=_env("MAX_IMAGE_DECODES", "2"), metavar="N",
                        help="uploaded images opened or decoded at once, each taking up to --max-image-memory; "
                             "more wait (default 2)")
    parser.add_argument("--max-image-memory", type=_number(int, "MAX_IMAGE_MEMORY"),
                        default=_env("MAX_IMAGE_MEMORY", str(80 * 1024 * 1024)), metavar="BYTES",
                        help="the memory one uploaded image may take while decoded, estimated from its headers "
                             "before a pixel is: the file, 4 bytes a pixel, a progressive JPEG's coefficients, a "
                             "WebP's 16 bytes a pixel and its file twice more (default 80 MiB)")
    parser.add_argument("--max-image-metadata", type=_number(int, "MAX_IMAGE_METADATA"),
                        default=_env("MAX_IMAGE_METADATA", str(4 * 1024 * 1024)), metavar="BYTES",
                        help="metadata one uploaded image may carry (text, EXIF, XMP, ICC profile, other chunks; a "
                             "PNG's text counted decompressed too); none of it is kept (default 4 MiB)")
    parser.add_argument("--max-mp4-boxes", type=_number(int, "MAX_MP4_BOXES"), default=_env("MAX_MP4_BOXES", "10000"),
                        metavar="N", help="boxes the MP4 settings reader walks in one file before it gives up; "
                                          "a file this tool made has a few dozen (default 10000)")
    parser.add_argument("--max-settings-reads", type=_number(int, "MAX_SETTINGS_READS"),
                        default=_env("MAX_SETTINGS_READS", "2"), metavar="N",
                        help="MP4s whose settings tag is read at once (POST /api/media/settings), each holding up to "
                             "1 MiB of tag and what it parses to; more wait (default 2)")
    parser.add_argument("--event-replay-bytes", type=_number(int, "EVENT_REPLAY_BYTES"),
                        default=_env("EVENT_REPLAY_BYTES", str(64 * 1024 * 1024)), metavar="BYTES",
                        help="the most the event stream keeps for clients that resume (and a quarter of it, the "
                             "most one client may fall behind before it is dropped to resume) (default 64 MiB)")
    parser.add_argument("--verbose", action="store_true", default=_env("VERBOSE") in ("1", "true", "yes"),
                        help="log more")


MIN_EVENT_REPLAY_BYTES = 1024 * 1024
MIN_IMAGE_MEMORY = 16 * 1024 * 1024
MIN_IMAGE_METADATA = 64 * 1024
TOKEN_ADVICE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


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


def _api_token(args: argparse.Namespace) -> str | None:
    token = args.api_token or _env("API_TOKEN")
    if args.api_token_file:
        try:
            lines = Path(args.api_token_file).expanduser().read_text().splitlines()
        except OSError as exc:
            raise SystemExit(f"--api-token-file: cannot read {args.api_token_file}: {exc.strerror}") from None
        token = lines[0] if lines else ""
    if token is None:
        return None
    token = token.strip()
    weak = weakness(token)
    if weak:
        raise SystemExit(f"the API token is too weak ({weak}); it needs {TOKEN_RULE}. Make one with:\n"
                         f"  {TOKEN_ADVICE}")
    return token


def _webhook_secret(args: argparse.Namespace) -> str | None:
    if args.webhook_secret_file:
        try:
            lines = Path(args.webhook_secret_file).expanduser().read_text().splitlines()
        except OSError as exc:
            raise SystemExit(f"--webhook-secret-file: cannot read {args.webhook_secret_file}: {exc.strerror}"
                             ) from None
        secret: str | None = lines[0].strip() if lines else ""
    else:
        secret = _env("WEBHOOK_SECRET")
    weak = weakness(secret) if secret is not None else None
    if weak:
        raise SystemExit(f"the webhook secret is too weak ({weak}); it needs {TOKEN_RULE}. Make one with:\n"
                         f"  {TOKEN_ADVICE}  (or leave it unset: the server makes one)")
    return secret


def _check_ray(address: str, gpus: str | None) -> None:
    if not address.strip() or any(char.isspace() for char in address):
        raise SystemExit(f"--ray: {address!r} is not a Ray address; give 'auto', HOST:PORT or ray://HOST:PORT")
    if gpus is not None:
        raise SystemExit("--ray and --gpus: with --ray, jobs use the cluster's GPUs; drop --gpus")
    if importlib.util.find_spec("ray") is None:  # found without importing it: the server never does
        raise SystemExit("--ray needs Ray on this machine: pip install 'fastvideo-ui[ray]'")


def settings_from_args(args: argparse.Namespace) -> Settings:
    if args.cpu_slots < 0:
        raise SystemExit("--cpu-slots must be 0 or more")
    if args.stop_grace < 0:
        raise SystemExit("--stop-grace must be 0 or more")
    if args.affinity_wait < 0:
        raise SystemExit("--affinity-wait must be 0 or more")
    if args.max_downloads < 1:
        raise SystemExit("--max-downloads must be 1 or more")
    if args.max_queued < 1:
        raise SystemExit("--max-queued must be 1 or more")
    if args.max_sessions < 1:
        raise SystemExit("--max-sessions must be 1 or more")
    if args.max_wrong_tokens < 1:
        raise SystemExit("--max-wrong-tokens must be 1 or more")
    if not args.header_timeout > 0:
        raise SystemExit("--header-timeout must be more than 0 seconds")
    if args.max_connections < 1:
        raise SystemExit("--max-connections must be 1 or more")
    if args.max_connections_per_client < 1:
        raise SystemExit("--max-connections-per-client must be 1 or more")
    for flag, value in (("--body-idle-timeout", args.body_idle_timeout), ("--body-timeout", args.body_timeout),
                        ("--write-timeout", args.write_timeout)):
        if not value > 0:
            raise SystemExit(f"{flag} must be more than 0 seconds")
    if args.max_pipelined < 1:
        raise SystemExit("--max-pipelined must be 1 or more")
    if args.body_min_rate < 1:
        raise SystemExit("--body-min-rate must be 1 byte a second or more")
    if args.webhook_attempts < 1:
        raise SystemExit("--webhook-attempts must be 1 or more")
    if not args.webhook_backoff >= 0:
        raise SystemExit("--webhook-backoff must be 0 or more")
    if not args.webhook_timeout > 0:
        raise SystemExit("--webhook-timeout must be more than 0 seconds")
    if args.webhook_posts_per_target < 1:
        raise SystemExit("--webhook-posts-per-target must be 1 or more")
    if args.max_image_decodes < 1:
        raise SystemExit("--max-image-decodes must be 1 or more")
    if args.max_image_memory < MIN_IMAGE_MEMORY:
        raise SystemExit(f"--max-image-memory must be at least {MIN_IMAGE_MEMORY} (16 MiB): a 2048x2048 picture "
                         f"alone is 16 MiB decoded")
    if args.max_image_metadata < MIN_IMAGE_METADATA:
        raise SystemExit(f"--max-image-metadata must be at least {MIN_IMAGE_METADATA} (64 KiB): a JPEG's EXIF "
                         f"alone may be 64 KiB")
    if args.max_mp4_boxes < 100:
        raise SystemExit("--max-mp4-boxes must be 100 or more: an MP4 this tool made has a few dozen boxes")
    if args.max_settings_reads < 1:
        raise SystemExit("--max-settings-reads must be 1 or more")
    if args.event_replay_bytes < MIN_EVENT_REPLAY_BYTES:
        raise SystemExit(f"--event-replay-bytes must be at least {MIN_EVENT_REPLAY_BYTES} (1 MiB): one job's event "
                         f"can be 80 KB")
    if args.ray is not None:
        _check_ray(args.ray, args.gpus)
    shared = Path(args.ray_shared_dir).expanduser().resolve() if args.ray_shared_dir else None
    if shared is not None and not args.ray:
        raise SystemExit("--ray-shared-dir is for --ray: without Ray, workers write straight into --output-dir")
    if shared is not None and not shared.is_dir():
        raise SystemExit(f"--ray-shared-dir: {shared} is not a directory here")
    networks = args.webhook_allow_network
    if networks is None:
        networks = [n.strip() for n in (_env("WEBHOOK_ALLOW_NETWORKS") or "").split(",") if n.strip()]
    from .webhooks.targets import TargetPolicy  # here, not above: most commands never check a webhook

    try:
        policy = TargetPolicy.of(args.webhook_allow_local, networks)
    except ValueError as exc:
        raise SystemExit(f"--webhook-allow-network: {exc}") from None
    problem = policy.url_problem(args.webhook_url) if args.webhook_url else None
    if problem:
        raise SystemExit(f"--webhook-url: {problem}")
    token = _api_token(args)
    if token is None and not args.insecure_no_auth and not is_loopback(args.host):
        raise SystemExit(
            f"refusing to listen on {args.host} without an API token: anyone who can reach this port "
            f"could run jobs on your GPUs and read every video.\n"
            f"  Set a token:  export FASTVIDEO_UI_API_TOKEN=$({TOKEN_ADVICE})\n"
            f"           or:  --api-token-file FILE\n"
            f"  or listen on 127.0.0.1 only (the default), or pass --insecure-no-auth on a network you trust."
        )
    origins = args.cors_origin
    if origins is None:
        origins = [o for o in (_env("CORS_ORIGINS") or "").split(",") if o]
    if "*" in origins and token is None:
        raise SystemExit("--cors-origin '*' lets every web page on the internet drive this server; "
                         "it needs an API token (or name the origins you use)")
    proxies = args.trusted_proxy
    if proxies is None:
        proxies = [p for p in (_env("TRUSTED_PROXIES") or "").split(",") if p]
    allowed_hosts = args.allowed_host
    if allowed_hosts is None:
        allowed_hosts = [h for h in (_env("ALLOWED_HOSTS") or "").split(",") if h]
    kwargs: dict = {}
    if args.data_dir:
        kwargs["data_dir"] = Path(args.data_dir)
    return Settings(
        host=args.host, port=args.port, output_dir=args.output_dir, log_dir=args.log_dir,
        gpus=args.gpus, ray_address=args.ray or None, ray_shared_dir=shared, cpu_slots=args.cpu_slots,
        stop_grace_s=args.stop_grace, affinity_wait_s=args.affinity_wait,
        metrics_public=args.metrics_public,
        cors_origins=origins, allowed_hosts=allowed_hosts, trusted_proxies=proxies, verbose=args.verbose,
        header_timeout_s=args.header_timeout, max_connections=args.max_connections,
        max_connections_per_client=args.max_connections_per_client, body_idle_timeout_s=args.body_idle_timeout,
        body_timeout_s=args.body_timeout, body_min_rate=args.body_min_rate, write_timeout_s=args.write_timeout,
        max_pipelined=args.max_pipelined,
        api_token=token, max_queued=args.max_queued, max_sessions=args.max_sessions,
        max_wrong_tokens=args.max_wrong_tokens,
        webhook_url=args.webhook_url or None, webhook_secret=_webhook_secret(args),
        webhook_allow_local=args.webhook_allow_local, webhook_allow_networks=networks,
        webhook_attempts=args.webhook_attempts, webhook_backoff_s=args.webhook_backoff,
        webhook_timeout_s=args.webhook_timeout, webhook_posts_per_target=args.webhook_posts_per_target,
        max_downloads=args.max_downloads, max_image_decodes=args.max_image_decodes,
        max_image_memory=args.max_image_memory, max_image_metadata=args.max_image_metadata,
        max_mp4_boxes=args.max_mp4_boxes, max_settings_reads=args.max_settings_reads,
        event_replay_bytes=args.event_replay_bytes, **kwargs,
    )
