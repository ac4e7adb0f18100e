"""The site widget: a brand's publishable key, widget secret, store origins and launcher setting."""
