"""Sans-IO protocol cores shared by the client and the simulated host (bytes in, values out)."""
