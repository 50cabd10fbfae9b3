"""Auto-grading kit for the "deep learning for images" workshop.

The pipeline, one module per step: release -> execute -> export -> check -> report.
"""

import os
import sys

__version__ = "0.1.0"

# The grader evaluates exported models with the kernel's numerics flags (oneDNN off), and quietly.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# jsonschema (imported by nbformat) builds an IRI grammar when rfc3987-syntax is installed: 2.8 s of CPU in every
# process that reads a notebook (each execution worker), for a format check no notebook uses. Leave it out.
sys.modules.setdefault("rfc3987_syntax", None)
