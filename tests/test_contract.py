"""The contract clients rely on, held to goldens captured before issue 25's
redesign (tests/contract/capture.py wrote them; tests/contract/observe.py says
what each holds): every key a golden has must be there with the same value.
A key the golden lacks fails too, unless it is one of those named below, which
the redesign adds on purpose."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FakeFastVideo, InProcessServer, Server
from contract import observe

from fastvideo_ui.spec.fields import BY_NAME, FIELDS

# Job fields added since the goldens, kept in the `params` JSON column: they may
# appear wherever job fields do (OpenAPI, a job's JSON, /api/models' defaults,
# FastVideo's kwargs, `submit`'s flags), an upload field with its `<name>_url`.
# Derived from the spec (storage="json"); the goldens' fields all have columns.
NEW_JOB_FIELDS: frozenset[str] = frozenset(
    name for f in FIELDS if f.storage == "json"
    for name in (f.name, *([f"{f.name}_url"] if f.upload else []), *([f.fastvideo_name] if f.fastvideo_name else [])))
# A job's record keys added since (not per-job fields): anywhere a job's JSON or its schema is.
# issue 26: what its latest run warned of; issue 27: the run time its latest run was expected to take, and whence;
# issue 28: the sweep that made it, and its star
NEW_RECORD_KEYS = frozenset({"warnings", "estimate_seconds", "estimate_source", "sweep_id", "starred"})
# Other keys that may be new, each where it may be: (golden, path with [*] for
# any list index, key).
ALLOWED_NEW_KEYS = frozenset({
    ("models", "[*]", "fields"),  # the spec served to the dialog and the CLI (issue 25, step 7)
    ("models", "[*]", "features"),  # what a field may need of a model (issue 26: vsa_sparsity needs "vsa")
    ("submit_flags", "", "image"),  # submit --image FILE: the input picture, uploaded first
    ("submit_flags", "", "preset"),  # submit --preset NAME: a saved preset's values under the flags (issue 28)
})


def allowed(golden: str, path: str, key: str) -> bool:
    if key in NEW_RECORD_KEYS:
        return "mp4_settings" not in path
    if key in NEW_JOB_FIELDS:
        # An MP4's settings keep their nine keys as they were (the golden holds them); a new generation field
        # joins them, as "From a video…" restores it (a reader ignores a key it does not know).
        return "mp4_settings" not in path or key not in BY_NAME or BY_NAME[key].restored
    return (golden, re.sub(r"\[\d+\]", "[*]", path), key) in ALLOWED_NEW_KEYS


def differences(golden: str, expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` breaks the golden `expected`, one line each."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: {actual!r} is not an object"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing")
            else:
                found += differences(golden, value, actual[key], f"{path}.{key}")
        found += [f"{path}.{key}: new, and not among the keys allowed to be" for key in actual.keys() - expected.keys()
                  if not allowed(golden, path, key)]
        return found
    if isinstance(expected, list) and path.endswith(".required") and isinstance(actual, list):
        # JSON Schema's required names (observe sorts them): the golden's, and a new field's beside them.
        kept = [name for name in actual if name in expected or not allowed(golden, path, name)]
        if kept != expected:
            return [f"{path}: {actual!r}, was {expected!r}"]
        return []
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path or '.'}: {actual!r} is not a list of {len(expected)}"]
        return [line for index, (item, got) in enumerate(zip(expected, actual, strict=True))
                for line in differences(golden, item, got, f"{path}[{index}]")]
    # type() too: JSON's 1 and true and 1.0 are three different answers to a client.
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path or '.'}: {actual!r}, was {expected!r}"]
    return []


def check(name: str, actual: Any) -> None:
    golden = json.loads((observe.GOLDENS / f"{name}.json").read_text(encoding="utf-8"))
    found = differences(name, golden, json.loads(json.dumps(actual)))
    assert not found, f"{name} differs from tests/contract/goldens/{name}.json:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = InProcessServer(tmp_path_factory.mktemp("contract") / "data", list(observe.SERVER_ARGS))
    try:
        yield running.start()
    finally:
        running.terminate()
        running.client.close()


@pytest.mark.parametrize("name", list(observe.QUICK))
def test_the_server_keeps_its_contract(quick_server: Server, name: str) -> None:
    check(name, observe.QUICK[name](quick_server))


@pytest.mark.parametrize("name", list(observe.OFFLINE))
def test_the_cli_keeps_its_contract(name: str) -> None:
    check(name, observe.OFFLINE[name]())


@pytest.mark.slow  # a server process, with the fake FastVideo on its workers' path
@pytest.mark.parametrize("name", list(observe.FAKE_FASTVIDEO))
def test_fastvideo_is_called_as_before(fastvideo: Callable[..., FakeFastVideo], name: str) -> None:
    check(name, observe.FAKE_FASTVIDEO[name](fastvideo(*observe.FAKE_ARGS)))


def test_the_comparison_allows_only_the_named_new_keys() -> None:
    assert differences("models", [{"id": "a"}], [{"id": "a", "fields": []}]) == []
    assert differences("models", [{"id": "a"}], [{"id": "a", "other": 1}]) == ["[0].other: new, and not among "
                                                                               "the keys allowed to be"]
    assert differences("preview_job", {"a": {"b": 1}}, {"a": {}}) == [".a.b: missing"]
    assert differences("preview_job", {"a": 1}, {"a": 1.0}) == [".a: 1.0, was 1"]
    assert differences("preview_job", {"a": [1, 2]}, {"a": [1]}) == [".a: [1] is not a list of 2"]


def test_the_goldens_are_each_observed() -> None:
    observed = {*observe.QUICK, *observe.OFFLINE, *observe.FAKE_FASTVIDEO}
    assert {path.stem for path in Path(observe.GOLDENS).glob("*.json")} == observed
