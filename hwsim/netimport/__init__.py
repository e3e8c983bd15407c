"""Networks from files other tools write: a SCALE-Sim topology CSV (scalesim_csv.py) and the conv / GEMM
shapes of an ONNX model (onnx_model.py). Both give a ZooNet (no published bits) and read data only."""
