"""Data contracts, readers, column mapping, real datasets and the synthetic CRM."""
