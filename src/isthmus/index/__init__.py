"""Shard storage: durable operation log and documents (SQLite), derived tantivy index."""
