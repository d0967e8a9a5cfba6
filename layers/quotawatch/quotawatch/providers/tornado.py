"""Tornado API: declared in catalogue/tornado.yaml.

The names the provider had when it was code (`PROVIDER`, `parse`, `read_refusal`), now
the declared provider's, so that code and tests that import them read the declaration.
"""

from quotawatch.providers.base import declared_names

PROVIDER, parse, read_refusal = declared_names("tornado")
