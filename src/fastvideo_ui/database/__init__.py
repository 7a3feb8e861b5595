"""The database: the SQLite engine, the tables, and their migrations. Both the
jobs layer and the webhooks layer store their rows here, so neither imports the
other to reach a table."""
