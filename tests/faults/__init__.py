"""Fault injection: the agent under crashes, server faults, bad state and hostile events.

The helpers here are provider-neutral: they run against every Target in
tests/servers/targets.py (Radicale now; the Google and Graph fakes when they land).
"""
