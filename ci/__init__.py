"""The pipeline toolkit: every Jenkins stage is one `python -m ci <command>`, runnable on a laptop too."""
