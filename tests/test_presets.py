"""Presets: saved, listed, changed and deleted over HTTP; their values checked
against the job spec and their model when saved, imported and applied (a
value that no longer holds is a 422 naming it); export and import; and the
CLI's `submit --preset` and `presets`."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import PREVIEW, Server
from fastvideo_ui.cli import main
from fastvideo_ui.jobs.presets import MAX_PRESETS, MAX_VALUES_BYTES
from fastvideo_ui.spec.fields import FIELDS, MAX_PROMPT_CHARS

TINY = {"num_inference_steps": 3, "width": 64, "height": 64, "num_frames": 4}


def _save(server: Server, name: str, values: dict[str, Any], model_id: str | None = None) -> dict[str, Any]:
    response = server.client.post("/api/presets", json={"name": name, "model_id": model_id, "values": values})
    assert response.status_code == 201, response.text
    return response.json()


def _refused(response: Any) -> dict[str, str]:
    """A 422's messages by where (the loc after "body", dotted)."""
    assert response.status_code == 422, response.text
    return {".".join(map(str, item["loc"][1:])): item["msg"] for item in response.json()["detail"]}


def _write_values(server: Server, preset_id: str, values: Any) -> None:
    """A stored preset's values as a spec change (or a hand edit) leaves them: written past every check."""
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        db.execute('UPDATE presets SET "values" = ? WHERE id = ?', (json.dumps(values), preset_id))


def test_presets_are_saved_listed_by_name_changed_and_deleted(server: Server) -> None:
    fast = _save(server, "  fast draft ", {"prompt": "  a fox  ", "guidance_scale": 7, **TINY}, PREVIEW)
    assert fast["name"] == "fast draft" and fast["model_id"] == PREVIEW
    # Normalised as a create body is: the prompt without the space around it, a float a float.
    assert fast["values"] == {"prompt": "a fox", "guidance_scale": 7.0, **TINY}
    seeds = _save(server, "Seeds", {"seed": 42, "loras": []})
    assert seeds["model_id"] is None and seeds["values"] == {"seed": 42, "loras": []}
    listed = server.client.get("/api/presets").json()
    assert [preset["name"] for preset in listed] == ["Seeds", "fast draft"]  # by name (Unicode order)
    assert server.client.get(f"/api/presets/{fast['id']}").json() == fast
    # PATCH: what is given; `values` replaces them whole; model_id null unties it.
    changed = server.client.patch(f"/api/presets/{fast['id']}", json={"name": "fast", "values": {"seed": 7}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "fast" and changed.json()["values"] == {"seed": 7}
    assert changed.json()["model_id"] == PREVIEW and changed.json()["updated_at"] >= fast["updated_at"]
    untied = server.client.patch(f"/api/presets/{fast['id']}", json={"model_id": None}).json()
    assert untied["model_id"] is None and untied["values"] == {"seed": 7}
    deleted = server.client.delete(f"/api/presets/{fast['id']}")
    assert deleted.status_code == 200 and "fast" in deleted.json()["detail"]
    for method, path in (("GET", fast["id"]), ("DELETE", fast["id"]), ("PATCH", str(uuid.uuid4())),
                         ("POST", f"{fast['id']}/apply"), ("GET", "not-an-id")):
        response = server.client.request(method, f"/api/presets/{path}", json={} if method != "GET" else None)
        assert response.status_code == 404 and response.json() == {"detail": "Preset not found"}, (method, path)
    assert [preset["name"] for preset in server.client.get("/api/presets").json()] == ["Seeds"]


def test_a_name_is_one_line_of_1_to_100_characters_and_unique(server: Server) -> None:
    first = _save(server, "mine", {})
    other = _save(server, "other", {})
    taken = server.client.post("/api/presets", json={"name": " mine ", "values": {"seed": 1}})
    assert taken.status_code == 409 and taken.json()["name"] == "mine" and "'mine'" in taken.json()["detail"]
    renamed = server.client.patch(f"/api/presets/{other['id']}", json={"name": "mine"})
    assert renamed.status_code == 409 and renamed.json()["name"] == "mine"
    assert server.client.patch(f"/api/presets/{first['id']}", json={"name": "mine"}).status_code == 200  # its own
    for name, rule in (("", "must not be empty"), ("   ", "must not be empty"), ("a\nb", "one line"),
                       ("x" * 101, "at most 100 characters")):
        assert rule in _refused(server.client.post("/api/presets", json={"name": name, "values": {}}))["name"]
    assert _save(server, "x" * 100, {})["name"] == "x" * 100


def _raw(server: Server, method: str, path: str, body: bytes) -> Any:
    """A request whose JSON says what httpx cannot encode (a lone surrogate, as the escape \\ud800)."""
    return server.client.request(method, path, content=body, headers={"content-type": "application/json"})


def test_a_name_that_is_not_valid_unicode_is_a_422_naming_it(server: Server) -> None:
    # JSON can say "\ud800" (half of a UTF-16 pair); no text holds one, and UTF-8 cannot store it.
    created = _raw(server, "POST", "/api/presets", b'{"name": "a\\ud800b", "values": {"seed": 1}}')
    assert "lone surrogate" in _refused(created)["name"] and created.json()["detail"][0]["type"] == "string_unicode"
    imported = _raw(server, "POST", "/api/presets/import", b'{"presets": [{"name": "\\udfff", "values": {}}]}')
    assert "lone surrogate" in _refused(imported)["presets.0.name"]
    preset = _save(server, "fine", {})
    changed = _raw(server, "PATCH", f"/api/presets/{preset['id']}", b'{"name": "x\\ud83e"}')
    assert "U+D83E at character 2" in _refused(changed)["name"]
    # A field name a preset cannot hold is named back, escaped, not a 500.
    key = _raw(server, "POST", "/api/presets", b'{"name": "k", "values": {"\\ud800": 1}}')
    assert _refused(key).keys() == {"values.\\ud800"}
    assert [p["name"] for p in server.client.get("/api/presets").json()] == ["fine"]


def test_names_that_look_alike_are_one_name_or_refused(server: Server) -> None:
    composed = _save(server, "caf\u00e9", {})  # é as one character
    # é as e and a combining accent: the same name (NFC), so a 409, on create, rename and import alike.
    taken = server.client.post("/api/presets", json={"name": "cafe\u0301", "values": {}})
    assert taken.status_code == 409 and taken.json()["name"] == "caf\u00e9"
    other = _save(server, "Cafe\u0301 noir", {})
    assert other["name"] == "Caf\u00e9 noir"  # stored composed
    assert server.client.patch(f"/api/presets/{other['id']}", json={"name": "cafe\u0301"}).status_code == 409
    skipped = server.client.post("/api/presets/import", json={"presets": [{"name": "cafe\u0301", "values": {}}]})
    assert skipped.json() == {"created": [], "replaced": [], "skipped": ["caf\u00e9"]}
    twice = server.client.post("/api/presets/import", json={"presets": [{"name": "n\u00e9", "values": {}},
                                                                         {"name": "ne\u0301", "values": {}}]})
    assert "repeats the name of preset 0" in _refused(twice)["presets.1.name"]
    # Characters that hide, or make one name show as another: format (bidi overrides, zero widths) and control.
    for name, said in (("draft\u202eegap", "U+202E (a format character: RIGHT-TO-LEFT OVERRIDE) at character 6"),
                       ("dra\u200bft", "U+200B (a format character: ZERO WIDTH SPACE)"),
                       ("\u2066draft", "U+2066 (a format character"), ("a\u00adb", "U+00AD"),
                       ("a\tb", "U+0009 (a control character: a tab)"), ("a\x85b", "U+0085 (a control character)"),
                       ("a\u2028b", "U+2028 (a line separator")):
        message = _refused(server.client.post("/api/presets", json={"name": name, "values": {}}))["name"]
        assert said in message and "no control or format characters" in message, (name, message)
    assert "U+202E" in _refused(server.client.patch(f"/api/presets/{composed['id']}",
                                                    json={"name": "\u202edraft"}))["name"]
    assert "U+200D" in _refused(server.client.post("/api/presets/import", json={"presets": [
        {"name": "x\u200dy", "values": {}}]}))["presets.0.name"]
    assert [p["name"] for p in server.client.get("/api/presets").json()] == ["Caf\u00e9 noir", "caf\u00e9"]


def test_a_presets_values_are_stored_as_utf8_up_to_64_kib(server: Server) -> None:
    fox, han = "\U0001f98a", "\u72d0"  # 4 and 3 bytes in UTF-8
    # The longest prompt in the widest characters fits, and is stored as UTF-8, not as \\u escapes.
    longest = _save(server, "emoji", {"prompt": fox * MAX_PROMPT_CHARS})
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        stored = db.execute('SELECT length(CAST("values" AS BLOB)) FROM presets WHERE id = ?',
                            (longest["id"],)).fetchone()[0]
    assert 4 * MAX_PROMPT_CHARS < stored < 4 * MAX_PROMPT_CHARS + 100
    _save(server, "han", {"prompt": han * MAX_PROMPT_CHARS, "negative_prompt": han * MAX_PROMPT_CHARS})
    # Past 64 KiB: a 422 naming `values`, with the size and the limit; on create, change and import alike.
    two = {"prompt": fox * MAX_PROMPT_CHARS, "negative_prompt": fox * MAX_PROMPT_CHARS}
    message = _refused(server.client.post("/api/presets", json={"name": "two", "values": two}))["values"]
    assert f"take {len(json.dumps(two, ensure_ascii=False, separators=(',', ':')).encode()):,} bytes" in message
    assert f"at most {MAX_VALUES_BYTES:,}" in message and MAX_VALUES_BYTES == 64 * 1024
    assert "values" in _refused(server.client.patch(f"/api/presets/{longest['id']}", json={"values": two}))
    imported = server.client.post("/api/presets/import", json={"presets": [{"name": "ok", "values": {}},
                                                                            {"name": "two", "values": two}]})
    assert _refused(imported).keys() == {"presets.1.values"}
    assert [p["name"] for p in server.client.get("/api/presets").json()] == ["emoji", "han"]


def test_an_import_is_capped_and_its_problems_too(server: Server) -> None:
    from fastvideo_ui.api.limits import MAX_BODY_BYTES_FOR

    assert MAX_BODY_BYTES_FOR["/api/presets/import"] == 8 * 1024 * 1024
    big = {"presets": [{"name": f"p{index}", "values": {"prompt": "x" * MAX_PROMPT_CHARS}}
                       for index in range(840)]}  # 8.4 MB
    assert server.client.post("/api/presets/import", json=big).status_code == 413
    # A thousand unknown fields, or a thousand bad presets: the first problems, and how many more.
    many = _refused(server.client.post("/api/presets", json={"name": "u", "values": {f"k{n}": 1 for n in range(1000)}}))
    assert len(many) == 21 and "980 more fields" in many["values"]
    bad = {"presets": [{"name": f"b{index}", "values": {"seed": -1}} for index in range(MAX_PRESETS)]}
    response = server.client.post("/api/presets/import", json=bad)
    assert response.status_code == 422 and len(response.json()["detail"]) == 21
    assert "checking stopped at preset 20 of 1000" in response.json()["detail"][-1]["msg"]


def test_values_are_checked_by_each_fields_own_rules(server: Server) -> None:
    errors = _refused(server.client.post("/api/presets", json={"name": "bad", "values": {
        "guidance_scale": -1, "guidnce_scale": 3, "start": True, "image": "a" * 64,
        "webhook_url": "https://hooks.example.com/x", "loras": [{"lora": "a.safetensors", "strength": 99}],
        "attention_backend": "FAST"}}))
    assert "greater than or equal to 0" in errors["values.guidance_scale"]
    assert "did you mean guidance_scale" in errors["values.guidnce_scale"]
    assert "not a job field" in errors["values.start"]
    assert "uploaded file" in errors["values.image"]  # an upload is deleted once no job uses it
    assert "secret" in errors["values.webhook_url"]
    assert "values.loras.0.strength" in errors and "values.attention_backend" in errors
    assert set(errors) == {"values.guidance_scale", "values.guidnce_scale", "values.start", "values.image",
                           "values.webhook_url", "values.loras.0.strength", "values.attention_backend"}
    assert server.client.get("/api/presets").json() == []
    # A field that does not apply, or a value outside the model's limits, is refused for a model named.
    for where in ({"model_id": PREVIEW}, {"values_model": PREVIEW}):
        values = {"guidance_scale": 31, "enable_torch_compile": True, "seed": 5}
        model_id = where.get("model_id")
        if "values_model" in where:
            values["model_id"] = where["values_model"]
        errors = _refused(server.client.post("/api/presets", json={"name": "m", "model_id": model_id,
                                                                     "values": values}))
        assert errors.keys() == {"values.guidance_scale", "values.enable_torch_compile"}
        assert "between 0 and 30 for fastvideo-ui/preview" in errors["values.guidance_scale"]
        assert "does not apply to fastvideo-ui/preview" in errors["values.enable_torch_compile"]
    # The same values with no model: only the spec's rules hold, and these keep them.
    assert _save(server, "any model", {"guidance_scale": 31, "seed": 5})["values"] == {"guidance_scale": 31.0,
                                                                                         "seed": 5}
    unknown = _refused(server.client.post("/api/presets", json={"name": "u", "model_id": "no/such-model",
                                                                  "values": {}}))
    assert "unknown model 'no/such-model'" in unknown["model_id"]
    two = _refused(server.client.post("/api/presets", json={"name": "two", "model_id": PREVIEW,
                                                              "values": {"model_id": "other/model"}}))
    assert "differs from the preset's model_id" in two["values.model_id"]
    assert _refused(server.client.post("/api/presets", json={"name": "v", "values": 3})).keys() == {"values"}
    # A PATCH is checked as a whole: tying a preset to a model checks its values for that model.
    tie = _refused(server.client.patch(f"/api/presets/{server.client.get('/api/presets').json()[0]['id']}",
                                       json={"model_id": PREVIEW}))
    assert tie.keys() == {"values.guidance_scale"}


def test_every_field_a_preset_may_not_keep_is_said_why(server: Server) -> None:
    """Derived from the spec: each upload and each secret field is refused, by its own reason; all else is kept."""
    not_kept = [f for f in FIELDS if f.upload or f.secret]
    assert not_kept
    errors = _refused(server.client.post("/api/presets", json={"name": "n", "values": {
        f.name: "x" for f in not_kept}}))
    assert errors.keys() == {f"values.{f.name}" for f in not_kept}
    assert all("not a job field" not in message for message in errors.values())


def test_apply_checks_the_values_again_now(server: Server) -> None:
    tied = _save(server, "tied", {"guidance_scale": 7, "prompt": "a fox", **TINY}, PREVIEW)
    applied = server.client.post(f"/api/presets/{tied['id']}/apply")
    assert applied.status_code == 200 and applied.json() == {"model_id": PREVIEW, "values": tied["values"]}
    assert server.client.post(f"/api/presets/{tied['id']}/apply", json={}).json()["model_id"] == PREVIEW
    unknown = server.client.post(f"/api/presets/{tied['id']}/apply", json={"model_id": "no/such-model"})
    assert "unknown model" in _refused(unknown)["model_id"]
    # A value saved under older limits (or written by hand): applying it names the field and the rule.
    _write_values(server, tied["id"], {"guidance_scale": 45, "seed": 3})
    errors = _refused(server.client.post(f"/api/presets/{tied['id']}/apply"))
    assert errors == {"values.guidance_scale": "must be between 0 and 30 for fastvideo-ui/preview"}
    # A field the spec no longer has, or a value of the wrong kind.
    _write_values(server, tied["id"], {"steps_per_frame": 2, "seed": "many"})
    errors = _refused(server.client.post(f"/api/presets/{tied['id']}/apply"))
    assert errors.keys() == {"values.steps_per_frame", "values.seed"}
    _write_values(server, tied["id"], ["not", "an", "object"])
    assert _refused(server.client.post(f"/api/presets/{tied['id']}/apply")).keys() == {"values"}
    # An untied preset is checked for the model the caller names, and only for the spec without one.
    loose = _save(server, "loose", {"guidance_scale": 31})
    assert server.client.post(f"/api/presets/{loose['id']}/apply").json() == {
        "model_id": None, "values": {"guidance_scale": 31.0}}
    for_preview = server.client.post(f"/api/presets/{loose['id']}/apply", json={"model_id": PREVIEW})
    assert _refused(for_preview) == {"values.guidance_scale": "must be between 0 and 30 for fastvideo-ui/preview"}


def test_export_and_import_round_trip_and_a_bad_preset_imports_none(server: Server) -> None:
    _save(server, "a", {"seed": 1, "prompt": "a fox"}, PREVIEW)
    _save(server, "b", {"guidance_scale": 4.5})
    exported = server.client.get("/api/presets/export").json()
    assert [preset["name"] for preset in exported["presets"]] == ["a", "b"]
    for preset in exported["presets"]:
        server.client.delete(f"/api/presets/{preset['id']}")
    done = server.client.post("/api/presets/import", json=exported).json()  # an export imports as it is
    assert done["created"] == ["a", "b"] and done["replaced"] == done["skipped"] == []
    again = server.client.get("/api/presets/export").json()["presets"]
    assert [(p["name"], p["model_id"], p["values"]) for p in again] == \
        [(p["name"], p["model_id"], p["values"]) for p in exported["presets"]]
    assert server.client.post("/api/presets/import", json=exported).json()["skipped"] == ["a", "b"]
    changed = {"presets": [{"name": "a", "values": {"seed": 2}}], "replace": True}
    replaced = server.client.post("/api/presets/import", json=changed).json()
    assert replaced == {"created": [], "replaced": ["a"], "skipped": []}  # names only, not the presets
    a = next(p for p in server.client.get("/api/presets").json() if p["name"] == "a")
    assert a["values"] == {"seed": 2} and a["model_id"] is None and a["id"] == again[0]["id"]
    # One bad preset: a 422 naming its index and field, and none of the others is added.
    bad = {"presets": [{"name": "c", "values": {"seed": 3}},
                       {"name": "d", "model_id": PREVIEW, "values": {"guidance_scale": 99}},
                       {"name": "c", "values": {}}]}
    errors = _refused(server.client.post("/api/presets/import", json=bad))
    assert errors.keys() == {"presets.1.values.guidance_scale", "presets.2.name"}
    assert "preset 0" in errors["presets.2.name"]
    assert [p["name"] for p in server.client.get("/api/presets").json()] == ["a", "b"]


def test_at_most_max_presets(server: Server) -> None:
    many = {"presets": [{"name": f"p{index:04}", "values": {"seed": index}} for index in range(MAX_PRESETS - 1)]}
    assert len(server.client.post("/api/presets/import", json=many).json()["created"]) == MAX_PRESETS - 1
    _save(server, "last", {})
    full = server.client.post("/api/presets", json={"name": "one more", "values": {}})
    assert full.status_code == 409 and f"at most {MAX_PRESETS}" in full.json()["detail"]
    one = server.client.post("/api/presets/import", json={"presets": [{"name": "x", "values": {}}]})
    assert one.status_code == 409
    # What exists is only replaced: no room needed.
    same = server.client.post("/api/presets/import", json={"presets": [{"name": "last", "values": {"seed": 1}}],
                                                            "replace": True})
    assert same.status_code == 200 and same.json()["replaced"] == ["last"]


# -- the CLI ---------------------------------------------------------------------------

def _cli(server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("FASTVIDEO_UI_SERVER", server.url)
    monkeypatch.delenv("FASTVIDEO_UI_API_TOKEN", raising=False)
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_submit_with_a_preset_takes_its_values_and_the_flags_given_over_them(
        server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _save(server, "draft", {"guidance_scale": 7, "seed": 42, "negative_prompt": "blur", **TINY}, PREVIEW)
    code, out, err = _cli(server, monkeypatch, capsys, "submit", "a fox", "--preset", "draft", "--seed", "9",
                          "--size", "128x96", "--no-start")
    assert code == 0, err
    job = server.job(out.strip())
    assert (job["model_id"], job["prompt"], job["guidance_scale"], job["negative_prompt"], job["seed"]) == \
        (PREVIEW, "a fox", 7.0, "blur", 9)
    assert (job["width"], job["height"], job["num_inference_steps"], job["num_frames"]) == (128, 96, 3, 4)
    # Unknown, or no longer valid: exit 2, saying which and why; no job is made.
    code, _, err = _cli(server, monkeypatch, capsys, "submit", "a fox", "--preset", "nope", "--no-start")
    assert code == 2 and "no preset is named 'nope'" in err
    preset = server.client.get("/api/presets").json()[0]
    _write_values(server, preset["id"], {"guidance_scale": 45})
    code, _, err = _cli(server, monkeypatch, capsys, "submit", "a fox", "--preset", "draft", "--no-start")
    assert code == 2 and "values.guidance_scale: must be between 0 and 30" in err
    assert len(server.client.get("/api/jobs").json()) == 1


def test_the_presets_command_lists_exports_imports_and_removes(
        server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "no presets yet" in _cli(server, monkeypatch, capsys, "presets")[1]
    _save(server, "draft", {"guidance_scale": 7, "seed": 42}, PREVIEW)
    code, out, _ = _cli(server, monkeypatch, capsys, "presets")
    assert code == 0 and "draft" in out and PREVIEW in out and "guidance_scale=7 seed=42" in out
    code, out, _ = _cli(server, monkeypatch, capsys, "presets", "export")
    exported = tmp_path / "presets.json"
    exported.write_text(out)
    assert code == 0 and json.loads(out)["presets"][0]["name"] == "draft"
    code, out, _ = _cli(server, monkeypatch, capsys, "presets", "rm", "draft", "nope")
    assert code == 2 and "draft deleted" in out and server.client.get("/api/presets").json() == []
    code, out, _ = _cli(server, monkeypatch, capsys, "presets", "import", str(exported))
    assert code == 0 and "created 1" in out
    code, out, _ = _cli(server, monkeypatch, capsys, "presets", "import", str(exported))
    assert code == 0 and "skipped 1" in out and "draft" in out
    assert _cli(server, monkeypatch, capsys, "presets", "import", str(exported), "--replace")[1].startswith(
        "created 0, replaced 1")
    too_big = {"presets": [{"name": f"p{index}", "values": {"prompt": "x" * 10_000}} for index in range(850)]}
    exported.write_text(json.dumps(too_big))
    code, _, err = _cli(server, monkeypatch, capsys, "presets", "import", str(exported))
    assert code == 2 and "split the file's presets into several files" in err, err
    exported.write_text('{"presets": [{"name": "bad", "values": {"seed": -1}}]}')
    code, _, err = _cli(server, monkeypatch, capsys, "presets", "import", str(exported))
    assert code == 2 and "presets.0.values.seed" in err


def test_the_cli_finds_a_name_typed_decomposed(
        server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _save(server, "caf\u00e9", {"seed": 3})  # stored composed (NFC)
    code, out, err = _cli(server, monkeypatch, capsys, "presets", "rm", "cafe\u0301")  # as a macOS file name is
    assert code == 0 and "deleted" in out, err
    assert server.client.get("/api/presets").json() == []
