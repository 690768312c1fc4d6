"""Adversarial examples as real files: `dfbench export` writes a run's as 8-bit PNG, JPEG or MP4
with a manifest (export.py); `dfbench score` re-scores any folder of such files against the
clean set its manifest names (score.py). media.py reads and writes the files, manifest.py the
manifest."""
