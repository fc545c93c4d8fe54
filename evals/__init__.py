"""The eval harness: scripted conversations through the real graph, scored against the catalogs.

``evals.scenario`` loads the conversations in ``evals/scenarios/``; ``evals.run`` drives them
through the graph (or the HTTP API); ``evals.metrics`` and ``evals.oracle`` score every turn,
the oracle recomputing the plan's numbers from the catalog files; ``evals.report`` writes
``report.md``, ``results.json`` and the plots. ``stack8s eval`` is the command line.
"""
