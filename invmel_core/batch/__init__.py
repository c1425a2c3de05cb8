"""Many files to sound, resumable: inputs to tasks, one file end to end, where tasks run (local or Dask)."""
