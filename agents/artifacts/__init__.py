"""Deployment files generated from one configuration (``target.DeploymentTarget``).

One module per target: ``kubernetes`` (manifest and kustomize), ``helm``, ``compose`` and
``skypilot``; ``build`` turns a plan's structured fields into the target and the files.
This package's ``__init__`` imports nothing so that ``agents.schemas`` can use the target.
"""
