"""Functional tests: a real ``nubo up`` process driven over real HTTP."""
