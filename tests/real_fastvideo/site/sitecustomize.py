"""Python imports `sitecustomize` at start-up from sys.path, so putting this
folder on PYTHONPATH (tests/test_real_fastvideo.py does) reaches every
interpreter of a real-FastVideo test run: the server (which never imports
torch, and nothing here imports it eagerly), our worker, and the GPU workers
FastVideo spawns. Test-only; nothing in src/ knows about it.

- cpu_shims: what fastvideo 0.2.1 needs to run on a CPU-only torch (each shim
  says why); applied only where torch has no CUDA.
- fault_injection: failures a prompt can ask for inside a GPU worker.
"""

import cpu_shims
import fault_injection

cpu_shims.install()
fault_injection.install()
