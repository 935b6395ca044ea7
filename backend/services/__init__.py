"""Business logic between the HTTP routes and the database / ML layers."""
