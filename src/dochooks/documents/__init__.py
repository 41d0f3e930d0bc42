"""Documents: upload, files, the workflow state machine, processors and the runner."""
