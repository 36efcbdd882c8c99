"""SMS backends: one module per vendor, plus console and locmem for development and tests."""
