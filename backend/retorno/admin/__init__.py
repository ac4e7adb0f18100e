"""The admin on the platform host (/admin): staff sign-in now; the brand pages come later."""
