# nbgrader configuration of the course; `autograder release` runs nbgrader with it.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "dl4img"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# Keep generated and instructor-only files out of the student release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# For `nbgrader autograde` (the kit grades with `autograder grade`): TensorFlow writes start-up lines on stderr,
# which nbgrader would otherwise count as a failed test cell.
c.ExecutePreprocessor.timeout = 300
