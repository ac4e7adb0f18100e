"""The shopper's app on each brand's host: pages, manifest, service worker, theme and icons."""
