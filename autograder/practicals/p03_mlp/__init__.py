"""Practical 03-mlp: declaration (practical.toml), in-kernel export, checks, thresholds, mutants."""
