"""Practical 01-sklearn: declaration (practical.toml), in-kernel export, checks, thresholds, mutants."""
