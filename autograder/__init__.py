"""Auto-grading kit for the "deep learning for images" workshop.

The pipeline, one module per step: release -> execute -> export -> check -> report.
"""

__version__ = "0.1.0"
