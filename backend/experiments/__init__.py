"""Pure experiment logic (assignment and statistics): no database, web or settings imports."""
