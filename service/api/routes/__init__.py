"""Thin routes: parse, call ApiState, return. Errors rise to service.api.errors."""
