"""custsat: turn raw customer records into a scored customer list."""

__version__ = "0.1.0"
