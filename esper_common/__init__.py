"""Hand-written helpers shared by every service, over the generated `esper.*` messages."""
