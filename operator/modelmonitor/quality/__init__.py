"""Model quality on plain data: realized metrics from ground truth (``metrics``), chunks and alert
bands (``chunks``), label-free estimates (``estimate``: CBPE and DLE), calibration
(``calibration``), fairness by segment (``fairness``) and concept drift on the error stream
(``concept``).

Pure: numpy, scipy, pandas, scikit-learn and river only; no I/O, and no import of the API models —
the evaluators in ``modelmonitor.evaluate`` and the ``quality`` command pass plain arrays and names.
"""

# The names the command line checks before anything heavy (scikit-learn, river) is imported.
BINARY = "binary-classification"
MULTICLASS = "multiclass-classification"
REGRESSION = "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
DETECTORS = ("adwin", "ddm", "page-hinkley")
