"""Practical 04-convnet: declaration (practical.toml), in-kernel export, checks, thresholds, mutants."""
