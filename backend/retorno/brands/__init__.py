"""Brands: who a request is for, their theme, assets, regulations and rules (from brand packs)."""
