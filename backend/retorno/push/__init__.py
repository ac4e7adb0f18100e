"""Web push: VAPID keys, subscriptions, preferences, and fanning events out to phones."""
