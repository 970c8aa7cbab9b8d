"""Fault injection: the agent under crashes, server faults, bad state and hostile events.

The helpers here are provider-neutral: they run against every Target in
tests/support/servers/targets.py: Radicale, the Google Calendar fake and the Graph fake.
"""
