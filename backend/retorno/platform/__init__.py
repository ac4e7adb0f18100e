"""Pages of the platform host that are neither the admin nor the API: the landing, health."""
