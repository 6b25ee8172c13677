"""Everything fluximage decides before computing: files, filters, bands, names."""
