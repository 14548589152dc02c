"""Benchmarks: the project against a baseline measured in the same run.

Run them with ``python -m benchmarks [--quick] [--only NAME]``; the full run writes RESULTS.md.
Suites: `transport` (recvfixed), `driver` (round trips and frames per generation), `device` (the
Tango device's Receive and frames/s end to end), `memory` (RSS under traffic), `scaling` (16
devices in one server). Peers and Tango servers they use: `peers`, `servers`.
"""
