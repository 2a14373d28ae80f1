"""kovirt."""
