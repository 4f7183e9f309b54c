"""Small helpers with no model, data or training knowledge (the bottom of the import graph)."""
