"""Deploys and rollbacks on target hosts: names (names.py), remote commands as data (plan.py, proxy.py, lock.py,
ledger.py), and the steps that run them over SSH (steps.py, traffic.py)."""
