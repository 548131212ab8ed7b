"""Crosschecks against recorded outputs of the original code (see __main__)."""
