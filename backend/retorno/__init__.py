"""Retorno: a self-hosted, multi-brand cashback and loyalty portal."""
