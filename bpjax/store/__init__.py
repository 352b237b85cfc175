"""Recordings on zarr (append-safe, crash-readable) and the importers of real history."""
