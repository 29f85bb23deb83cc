"""Pure drawing functions over `esper.sanctum.v1` messages: testable without an App."""
