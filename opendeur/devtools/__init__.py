"""Developer tools on top of the runtime: benchmarks and chaos runs (never imported by a service)."""
