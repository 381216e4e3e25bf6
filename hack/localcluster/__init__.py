"""A local Kubernetes API server for development, demos and CI.

Test tooling only: see docs/local-cluster.md and e2e/README.md for what is
simulated and what is not.  Python 3 standard library plus python3-yaml.
"""
