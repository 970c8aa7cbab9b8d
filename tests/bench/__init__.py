"""Benchmarks: how fast callplan plans, how few requests it spends, how quickly it starts.

Run them all with `python -m tests.bench` from the repository root: it prints a table and
writes tests/bench/RESULTS.md. They are not tests (pytest does not collect them); the
request counts they report are also asserted by tests, the timings are for people.
"""
