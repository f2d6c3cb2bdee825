"""Thin faust agents: decode ► call tax/storage ► emit a contract."""
