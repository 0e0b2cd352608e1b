"""lab_* management commands: benchmark data and the like."""
