"""The one error the view commands raise on bad input or an unusable stack."""


class ViewError(Exception):
    """Bad input or an unusable stack: one line for the person, no traceback."""
