"""Design-space sweeps (`bitmixer sweep SPACE.yaml`): hardware parameters x bit configs x networks, costed
chunk by chunk in this process or on a Dask cluster. Entry point: studies.sweep.run.run_sweep."""
