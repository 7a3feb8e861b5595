"""The LoRA adapter library: safetensors files on disk, checked as they arrive (no HTTP here)."""
