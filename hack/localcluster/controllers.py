"""Simulated controllers (placeholder: filled in by the workload controllers)."""


class Manager:
    def __init__(self, api, opts, disabled):
        self.api = api

    def start(self, stop):
        pass
