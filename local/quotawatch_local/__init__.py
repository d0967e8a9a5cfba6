"""The local platform: an embedded AWS, fake providers, a local invoke and the demo.

Development tooling only; never packaged into the Lambda layer.
"""
