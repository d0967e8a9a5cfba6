"""The pure core: value types and rules. No I/O, no AWS, no HTTP."""
