"""Documents -> chunks -> vectors -> a collection on disk."""
