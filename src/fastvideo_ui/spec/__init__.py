"""The job spec: every per-job field described once (fields.py), and what is
generic over the fields (rules.py). Stdlib only."""
