"""The admin on the platform host (/admin): staff sign-in, the platform admin's brands, and each
brand's rooms under /admin/b/<slug> (counter, customers, rules, branding, imports, reports,
campaigns, team), a module each; `brand.py` gathers them."""
