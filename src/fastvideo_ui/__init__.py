"""fastvideo-ui: a job runner with a web UI for video-generation models."""

__version__ = "0.1.0"
