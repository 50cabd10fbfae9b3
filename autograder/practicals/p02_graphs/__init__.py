"""Practical 02-graphs: declaration (practical.toml), in-kernel export, checks, thresholds, mutants."""
