import os

# Keep torch and numba from oversubscribing the 2 CI cores.
os.environ.setdefault("OMP_NUM_THREADS", "2")
