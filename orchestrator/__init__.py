"""The `bench` orchestrator: plan (suite -> JobSpecs) -> launch (backend) -> collect -> report."""
