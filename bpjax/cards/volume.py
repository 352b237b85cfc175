"""Volume: participation behind moves."""
