"""Write the contract goldens (tests/contract/goldens/*.json) from the code as
it is now. Run it once at the base of a change that must keep behaviour, and
commit what it writes; tests/test_contract.py then holds every later commit to
it. Rerun it only when a change of behaviour is meant, and say so.

    PYTHONPATH=src .venv/bin/python tests/contract/capture.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # conftest and this package, as pytest has them

from conftest import FakeFastVideo, InProcessServer, Server, fake_fastvideo_env  # noqa: E402
from contract import observe  # noqa: E402


def write(name: str, value: Any) -> None:
    observe.GOLDENS.mkdir(exist_ok=True)
    path = observe.GOLDENS / f"{name}.json"
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fastvideo-ui-contract-") as scratch:
        root = Path(scratch)
        quick = InProcessServer(root / "quick", list(observe.SERVER_ARGS)).start()
        try:
            for name, observe_on in observe.QUICK.items():
                write(name, observe_on(quick))
        finally:
            quick.terminate()
            quick.client.close()
        for offline_name, observe_offline in observe.OFFLINE.items():
            write(offline_name, observe_offline())
        record = root / "fake-fastvideo.jsonl"
        fake_server = Server(root / "fake", list(observe.FAKE_ARGS), fake_fastvideo_env(record)).start()
        try:
            for fake_name, observe_fake in observe.FAKE_FASTVIDEO.items():
                write(fake_name, observe_fake(FakeFastVideo(fake_server, record)))
        finally:
            fake_server.terminate()
            fake_server.client.close()


if __name__ == "__main__":
    main()
