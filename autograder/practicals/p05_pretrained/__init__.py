"""Practical 05-pretrained: declaration (practical.toml), in-kernel export, checks, thresholds, mutants."""
