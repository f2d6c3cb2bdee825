"""Developer tooling, outside the product packages: the development Kafka broker
(``broker``), the child processes of ``make run`` and the tests (``processes``), the
compressed-season simulation (``simulation``) and the synthetic registries
(``registries_mock``). Tooling may import the product; the product never imports tooling
(import-linter, ``make lint``).
"""
