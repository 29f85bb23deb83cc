"""Pure drawing functions over `esper.sanctum.v2` messages: testable without an App."""
