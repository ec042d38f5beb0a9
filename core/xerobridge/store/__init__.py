"""The store: database, tables, migrations, and the records the engine keeps."""
