"""The LoRA library: safetensors files in --lora-dir, uploaded (streamed and
checked before anything is kept) or copied in by hand, listed with their hash
and base model, deleted unless a queued or running job needs them; over HTTP
and from the CLI."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import InProcessServer, Server, _template_database, wait_for
from fastvideo_ui.cli import main as cli_main
from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.jobs.lora_use import jobs_using_lora
from fastvideo_ui.jobs.store import JobStore
from fastvideo_ui.loras.library import INDEX_NAME, LoraLibrary
from fastvideo_ui.loras.names import LoraRefused, lora_name
from fastvideo_ui.loras.safetensors_header import HeaderCheck, NotSafetensors, base_model

BYTES = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1}


def safetensors(tensors: dict[str, tuple[str, list[int]]] | None = None, metadata: dict[str, str] | None = None,
                fill: int = 7) -> bytes:
    """A safetensors file, written out by hand: 8-byte length, JSON header, data."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    data = b""
    for name, (dtype, shape) in (tensors or {"lora_A.weight": ("F32", [4, 2])}).items():
        size = math.prod(shape) * BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes((fill + i) % 256 for i in range(size))
    return raw(json.dumps(header).encode(), data)


def raw(header: bytes, data: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def lying(tensors: dict[str, Any], data_bytes: int) -> bytes:
    return raw(json.dumps(tensors).encode(), b"\0" * data_bytes)


VALID = safetensors(metadata={"ss_base_model_version": "wan21", "base_model": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"})


def lora_files(server: Server) -> list[str]:
    """Everything in the library's directory but its index: LoRAs, and any temporary file left behind."""
    directory = server.data_dir / "loras"
    return sorted(name for name in os.listdir(directory) if name != INDEX_NAME)


def post_body(server: Server, data: Any, name: str = "style", **headers: str) -> Any:
    return server.client.post("/api/loras", params={"name": name}, content=data,
                              headers={"Content-Type": "application/octet-stream", **headers})


def post_form(server: Server, data: bytes, filename: str = "style.safetensors", **params: str) -> Any:
    return server.client.post("/api/loras", params=params,
                              files={"file": (filename, data, "application/octet-stream")})


def test_an_upload_as_a_form_or_a_body_is_listed_with_its_hash_and_base_model(server: Server) -> None:
    assert server.client.get("/api/loras").json() == []
    made = post_form(server, VALID)
    assert made.status_code == 201, made.text
    entry = made.json()
    assert entry["name"] == "style.safetensors" and entry["bytes"] == len(VALID)
    assert entry["sha256"] == hashlib.sha256(VALID).hexdigest()
    assert entry["base_model"] == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"  # the explicit id before kohya's tag
    assert entry["created_at"].endswith("Z") and entry["created_at"][10] == "T"
    other = safetensors({"a": ("F16", [3]), "b": ("U8", [0]), "c": ("BF16", [2, 2])},
                        metadata={"ss_base_model_version": "wan21"})
    second = post_body(server, other, name="plain")  # the ending is added
    assert second.status_code == 201, second.text
    assert (second.json()["name"], second.json()["base_model"]) == ("plain.safetensors", "wan21")
    listed = server.client.get("/api/loras").json()
    assert [item["name"] for item in listed] == ["plain.safetensors", "style.safetensors"]
    assert listed[1] == entry
    assert (server.data_dir / "loras" / "style.safetensors").read_bytes() == VALID
    assert lora_files(server) == ["plain.safetensors", "style.safetensors"]  # no temporary file left


def test_a_file_of_several_write_batches_arrives_whole(server: Server) -> None:
    big = safetensors({"a": ("F16", [1024, 1024]), "b": ("U8", [1_500_001])})  # over 3 MiB: several batches
    for response in (post_body(server, big, name="big"), post_form(server, big, filename="form.safetensors")):
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == hashlib.sha256(big).hexdigest()
    assert (server.data_dir / "loras" / "form.safetensors").read_bytes() == big
    assert lora_files(server) == ["big.safetensors", "form.safetensors"]


def test_the_same_file_again_is_200_and_another_file_under_its_name_409(server: Server) -> None:
    first = post_body(server, VALID, name="style.safetensors")
    assert first.status_code == 201
    again = post_form(server, VALID)
    assert again.status_code == 200 and again.json() == first.json()
    clash = post_body(server, safetensors(fill=9), name="style")
    assert clash.status_code == 409 and "already called style.safetensors" in clash.json()["detail"]
    assert (server.data_dir / "loras" / "style.safetensors").read_bytes() == VALID
    assert lora_files(server) == ["style.safetensors"]


BAD_FILES = {
    "pickle": (b"\x80\x04\x95" + b"\0" * 40, 415, "pickle"),
    "torch zip": (b"PK\x03\x04" + b"\0" * 40, 415, "pickle"),
    "truncated data": (VALID[:-3], 422, "truncated"),
    "truncated header": (VALID[:20], 422, "truncated"),
    "only 5 bytes": (VALID[:5], 422, "truncated"),
    "size lie": (lying({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 32]}}, 32), 422, "lies"),
    "overlap": (lying({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                       "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}}, 12), 422, "overlaps"),
    "gap": (lying({"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}, 8), 422, "belong to no tensor"),
    "past the data": (VALID + b"\0" * 4, 422, "follow the last tensor"),
    "huge header": (raw(b"{}", length=500_000_000), 422, "at most 4194304"),
    "bad json": (raw(b"{not json"), 422, "not JSON"),
    "not an object": (raw(b"[1, 2]"), 422, "not a JSON object"),
    "no tensors": (raw(b"{}"), 422, "no tensors"),
    "unknown dtype": (lying({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, 16), 422, "dtype"),
    "twice": (raw(b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
                  b'"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"), 422, "twice"),
    "empty": (b"", 422, "truncated"),
}


def test_a_bad_file_is_refused_saying_why_and_leaves_nothing_behind(server: Server) -> None:
    for case, (data, status, words) in BAD_FILES.items():  # one server for them all: each starts in a blink
        for response in (post_body(server, data), post_form(server, data)):
            assert response.status_code == status, (case, response.text)
            detail = response.json()["detail"]
            message = detail if status != 422 else detail[0]["msg"]
            assert words in message, (case, message)
            if status == 422:
                assert detail[0]["loc"] == ["body", "file"], case
        assert lora_files(server) == [], case
    assert server.client.get("/api/loras").json() == []


def test_a_pickles_name_is_415_before_its_body_is_read(server: Server) -> None:
    for name in ("x.pt", "x.ckpt", "x.bin", "x.PTH"):
        for response in (post_body(server, VALID, name=name), post_form(server, VALID, filename=name)):
            assert response.status_code == 415, response.text
            assert "pickle" in response.json()["detail"] and "runs code" in response.json()["detail"]
    assert lora_files(server) == []


BAD_NAMES = [("../x", "without /"), ("a/b.safetensors", "without /"), ("a\\b", "without /"), (".hidden", "dot"),
             ("", "empty"), ("x..y", ".."), ("tab\there", "control"), ("nul\0", "control"), (" x", "space"),
             ("x" * 200, "at most 200 bytes")]


def test_a_bad_name_is_422_naming_the_rule(server: Server) -> None:
    for name, rule in BAD_NAMES:
        response = post_body(server, VALID, name=name)
        assert response.status_code == 422, (name, response.text)
        error = response.json()["detail"][0]
        assert error["loc"] == ["query", "name"] and rule in error["msg"], (name, error)
    assert lora_files(server) == []


def test_a_forms_file_name_is_checked_too_and_name_overrides_it(server: Server) -> None:
    hidden = post_form(server, VALID, filename=".hidden.safetensors")
    assert hidden.status_code == 422 and "?name=" in hidden.json()["detail"][0]["msg"]
    assert post_form(server, VALID, filename="", name="given").json()["name"] == "given.safetensors"
    missing = server.client.post("/api/loras", files={"other": ("x.safetensors", VALID)})
    assert missing.status_code == 422 and "`file` field" in missing.json()["detail"][0]["msg"]
    no_name = server.client.post("/api/loras", content=VALID, headers={"Content-Type": "application/octet-stream"})
    assert no_name.status_code == 422 and no_name.json()["detail"][0]["loc"] == ["query", "name"]
    assert lora_files(server) == ["given.safetensors"]


def test_over_max_lora_bytes_is_413_declared_or_streamed(tmp_path: Path) -> None:
    server = InProcessServer(tmp_path / "data", ["--max-lora-bytes", str(1024 * 1024)])
    big = safetensors({"w": ("U8", [1024 * 1024 + 10])})
    try:
        server.start()
        assert post_body(server, big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(big), 65536):
                yield big[start:start + 65536]

        streamed = post_body(server, chunks())
        assert streamed.status_code == 413 and "--max-lora-bytes" in streamed.json()["detail"], streamed.text
        assert post_form(server, big).status_code == 413
        assert lora_files(server) == []
        assert post_body(server, VALID).status_code == 201  # under it, fine
    finally:
        server.terminate()
        server.client.close()


def test_a_header_claiming_hundreds_of_mb_is_refused_after_its_8_bytes(server: Server) -> None:
    """The answer comes with the rest of the declared body never sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /api/loras?name=big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/octet-stream\r\nContent-Length: 600000008\r\n\r\n"
                     + struct.pack("<Q", 600_000_000))
        answer = b""
        while b"}" not in answer.partition(b"\r\n\r\n")[2]:  # the whole JSON body
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 422"), answer
    assert b"600000000 bytes" in answer
    assert lora_files(server) == []


def test_a_client_gone_mid_upload_leaves_no_file(server: Server) -> None:
    head = lying({"w": {"dtype": "U8", "shape": [8_000_000], "data_offsets": [0, 8_000_000]}}, 0)
    part = head + b"\0" * (3 * 1024 * 1024)  # a valid header, then past one write batch of its data
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /api/loras?name=cut HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (len(head) + 8_000_000)
                     + part)
        wait_for(lambda: lora_files(server), what="the upload's temporary file")
        assert all(name.startswith(".upload-") for name in lora_files(server))
    wait_for(lambda: lora_files(server) == [], what="the temporary file to go")
    assert server.client.get("/api/loras").json() == []


def test_delete_is_204_then_404_and_409_while_a_queued_job_uses_it(server: Server) -> None:
    assert post_body(server, VALID, name="style").status_code == 201
    assert post_body(server, safetensors(fill=3), name="spare").status_code == 201
    assert server.client.post("/api/queue/pause").status_code == 200  # the job stays queued
    job = server.create(start=True)
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        db.execute("UPDATE jobs SET params = json_set(params, '$.loras', json(?)) WHERE id = ?",
                   (json.dumps([{"lora": "style", "strength": 0.8}]), job["id"]))
    refused = server.client.delete("/api/loras/style.safetensors")
    assert refused.status_code == 409 and refused.json()["jobs"] == [job["id"]], refused.text
    assert job["id"] in refused.json()["detail"]
    assert server.client.delete("/api/loras/spare").status_code == 204  # without its ending, too
    assert server.client.delete("/api/loras/spare").status_code == 404
    assert server.client.delete("/api/loras/.hidden").status_code == 422
    server.client.post(f"/api/jobs/{job['id']}/stop")
    assert server.client.delete("/api/loras/style").status_code == 204
    assert lora_files(server) == [] and server.client.get("/api/loras").json() == []


def test_only_queued_or_running_jobs_that_name_it_hold_a_lora(tmp_path: Path) -> None:
    shutil.copyfile(_template_database(), tmp_path / "jobs.db")
    engine = make_engine(tmp_path / "jobs.db")
    store = JobStore(engine)
    shape = {"model_id": "fastvideo-ui/preview", "prompt": "p", "num_inference_steps": 2, "num_frames": 5,
             "height": 64, "width": 64, "guidance_scale": 1.0, "seed": 1, "fps": 8, "num_gpus": 1}
    loras = {"q": ([{"lora": "a.safetensors", "strength": 1.0}], "queued"),
             "r": ([{"lora": "b", "strength": 1.0}, {"lora": "a.safetensors", "strength": -2}], "running"),
             "done": ([{"lora": "a.safetensors", "strength": 1.0}], "completed"),
             "other": ([{"lora": "owner/repo", "strength": 1.0}], "queued"),
             "odd": ("a.safetensors", "queued"), "items": (["a.safetensors", 3, None], "running")}
    for job_id, (value, status) in loras.items():
        store.create(id=job_id, status=status, created_at=1.0, **shape)
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE jobs SET params = json_set(params, '$.loras', json(?)) WHERE id = ?",
                                       (json.dumps(value), job_id))
    store.create(id="none", status="queued", created_at=1.0, **shape)
    assert jobs_using_lora(engine, "a.safetensors") == ["q", "r"]
    assert jobs_using_lora(engine, "b") == ["r"]
    assert jobs_using_lora(engine, "c.safetensors") == []
    engine.dispose()


def test_a_file_copied_in_by_hand_is_listed_and_links_out_are_not(server: Server, tmp_path: Path) -> None:
    directory = server.data_dir / "loras"
    (directory / "by-hand.safetensors").write_bytes(VALID)
    (directory / "broken.safetensors").write_bytes(VALID[:-1])  # not a LoRA the library can serve
    (directory / "notes.txt").write_text("not a LoRA")
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(VALID)
    (directory / "link.safetensors").symlink_to(outside)
    listed = server.client.get("/api/loras").json()
    assert [(item["name"], item["sha256"]) for item in listed] == [
        ("by-hand.safetensors", hashlib.sha256(VALID).hexdigest())]
    changed = safetensors(fill=11)
    (directory / "by-hand.safetensors").write_bytes(changed)
    os.utime(directory / "by-hand.safetensors", ns=(1, 1_000_000_000))  # another version, whatever the clock
    assert server.client.get("/api/loras").json()[0]["sha256"] == hashlib.sha256(changed).hexdigest()
    assert server.client.delete("/api/loras/link").status_code == 404
    assert outside.exists()


def test_the_library_keeps_hashes_across_a_restart_and_sweeps_old_temporary_files(tmp_path: Path) -> None:
    library = LoraLibrary(tmp_path / "loras", 1 << 20)
    entry, created = library.add("a", iter([VALID[:5], VALID[5:]]))
    assert created and entry.name == "a.safetensors" and library.has("a") and not library.has("b")
    stale = tmp_path / "loras" / ".upload-old.part"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    index = json.loads((tmp_path / "loras" / INDEX_NAME).read_text())
    assert index["a.safetensors"]["sha256"] == entry.sha256
    again = LoraLibrary(tmp_path / "loras", 1 << 20)
    assert again.list() == [entry] and not stale.exists()
    with open(tmp_path / "loras" / "a.safetensors", "rb") as file:
        assert again.add("copy", file)[0].sha256 == entry.sha256  # from a file, read a chunk at a time
    assert again.path("../a") is None and again.path("a") == tmp_path / "loras" / "a.safetensors"


def test_the_header_is_checked_whichever_way_the_bytes_are_cut() -> None:
    for size in (1, 3, 8, 9, 1000):
        check = HeaderCheck()
        for start in range(0, len(VALID), size):
            check.feed(VALID[start:start + size])
        header = check.finish()
        assert (header.tensors, header.file_bytes) == (1, len(VALID))
    check = HeaderCheck(max_header_bytes=100)
    with pytest.raises(NotSafetensors, match="at most 100"):
        check.feed(struct.pack("<Q", 101))
    assert base_model({"ss_sd_model_name": "wan.safetensors", "modelspec.architecture": "wan/lora"}) == "wan/lora"
    assert base_model({"base_model": "  "}) is None


def test_names() -> None:
    assert lora_name("x") == "x.safetensors" and lora_name("Y.SafeTensors") == "Y.SafeTensors"
    assert lora_name("mit Umlaut ä.safetensors") == "mit Umlaut ä.safetensors"
    with pytest.raises(LoraRefused) as refused:
        lora_name("x.ckpt")
    assert refused.value.status == 415


def run_cli(server: Server, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli_main(["--server", server.url, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cli_lists_adds_and_removes(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(server, capsys, "loras")[1].startswith("the LoRA library is empty")
    path = tmp_path / "my-style.safetensors"
    path.write_bytes(VALID)
    code, out, _ = run_cli(server, capsys, "loras", "add", str(path))
    assert code == 0 and out.startswith("added my-style.safetensors") and hashlib.sha256(VALID).hexdigest() in out
    code, out, _ = run_cli(server, capsys, "loras", "add", str(path))
    assert code == 0 and out.startswith("already in the library: my-style.safetensors")
    code, _, err = run_cli(server, capsys, "loras", "add", str(path), "--name", "a/b")
    assert code == 2 and "--name: must be a plain file name" in err
    code, _, err = run_cli(server, capsys, "loras", "add", str(tmp_path / "missing.safetensors"))
    assert code == 2 and "cannot read" in err
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04" + b"junk" * 10)
    code, _, err = run_cli(server, capsys, "loras", "add", str(tmp_path / "bad.safetensors"))
    assert code == 2 and "pickle" in err
    code, out, _ = run_cli(server, capsys, "loras")
    assert code == 0 and "my-style.safetensors" in out and "Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in out
    code, out, _ = run_cli(server, capsys, "loras", "--json")
    assert json.loads(out)[0]["name"] == "my-style.safetensors"
    code, out, err = run_cli(server, capsys, "loras", "rm", "my-style", "nothing")
    assert code == 2 and "my-style deleted" in out and "no LoRA called 'nothing'" in err
    assert lora_files(server) == []


def test_a_header_of_giant_or_many_dimensions_is_refused_before_its_size_is_worked_out() -> None:
    from fastvideo_ui.loras.safetensors_header import check_header

    # Refused for its shape, not for a size: the product of these (quadratic to work out) is never taken.
    for shape in ([7] * 9, [10**200, 10**200], [1 << 49]):
        header = json.dumps({"t": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}).encode()
        with pytest.raises(NotSafetensors, match="shape has more than 8 dimensions or one over"):
            check_header(header, len(header))
    many = json.dumps({f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]}
                       for i in range(70_000)}).encode()
    with pytest.raises(NotSafetensors, match="70000 tensors, over the 65536"):
        check_header(many, len(many))


def test_names_that_show_other_than_they_are_are_refused_and_one_name_is_one_form() -> None:
    for hidden in ("\u202eevil", "a\u200bb", "\ufeffink", "ink\u2028x", "\ue000"):
        with pytest.raises(LoraRefused, match="format"):
            lora_name(hidden)
    assert lora_name("cafe\u0301") == lora_name("caf\u00e9") == "caf\u00e9.safetensors"
