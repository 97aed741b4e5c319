"""Load tests: human-like bots, the benchmark runner and the raw reference server.

Entry points: ``python -m load_tests run`` (bots against any deployment),
``python -m load_tests bench`` (the comparative benchmark), and
``python -m load_tests.reference_server`` (the yardstick). Programmatic use:
:func:`load_tests.runner.run_async` with a :class:`load_tests.runner.RunConfig`.
"""
