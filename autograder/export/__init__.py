"""Export step: code that runs *inside* the student's kernel, after the student's cells.

Each practical has one module here with ``export(ex)``; it turns the student's answers into plain files
(``.npy``, ``.json``, TensorFlow ``GraphDef`` protobufs, ``.keras`` models). The grader injects these
modules' source into the kernel, so they import nothing from the kit and only numpy/TF lazily.
"""
