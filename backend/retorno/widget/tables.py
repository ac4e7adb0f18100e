"""The site widget's settings (filled in by the widget's own module)."""
