"""The chaos lab (`make chaos`): a steady mixed load on servers of its own, one fault injected
at a fixed time, and a report of what failed, how, and how fast it recovered.

- ``run``: the runner (``python -m loadtests.chaos``);
- ``faults``: the lab's own PostgreSQL and Redis, and the four faults;
- ``ledger``: what each Locust process records (per request, per chat send);
- ``analysis``: phases, timeline, recovery and each scenario's checks;
- ``report``: the load-test report with the fault on top.
"""
