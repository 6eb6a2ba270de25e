"""Auth0 log events: the query language, offline files and their search."""
